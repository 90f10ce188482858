"""The module base's Differences: changed and the diff come from the same record."""

from types import SimpleNamespace

from ansible_collections.dockyard.fleet.plugins.module_utils._module import Differences


def test_changed_and_diff_come_from_one_record():
    differences = Differences()
    assert differences.add("availability", "active", "drain") is True
    assert differences.add("labels", {"a": "1"}, {"a": "1"}) is False
    result = differences.report(SimpleNamespace(_diff=True), {"node_id": "n1"})
    assert result == {"node_id": "n1", "changed": True,
                      "diff": {"before": {"availability": "active", "labels": {"a": "1"}},
                               "after": {"availability": "drain", "labels": {"a": "1"}}}}


def test_nothing_differs_nothing_changed_and_no_diff_outside_diff_mode():
    differences = Differences()
    differences.add("leader", True, True)
    assert differences.report(SimpleNamespace(_diff=False), {}) == {"changed": False}
    assert differences.report(SimpleNamespace(_diff=False), {"changed": True})["changed"] is True
