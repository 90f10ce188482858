"""docker_networks' planning: the create body from a declaration, overlaps, and what differs from a network."""

import pytest
from ansible_collections.dockyard.fleet.plugins.modules.docker_networks import (
    OWNER,
    Refused,
    check_overlaps,
    differences,
    network_spec,
)


def declared(name, **extra):
    return {"name": name, "driver": None, "internal": False, "attachable": False, "encrypted": False,
            "options": None, "subnet": None, "gateway": None, "ip_range": None, "labels": None, **extra}


def test_a_declaration_becomes_the_engines_create_body_with_only_what_was_declared():
    spec = network_spec(declared("front", attachable=True, encrypted=True, subnet="10.9.0.0/24",
                                 gateway="10.9.0.1", labels={"team": "web"}), "swarm")
    assert spec["Driver"] == "overlay" and spec["Attachable"] is True and spec["Options"] == {"encrypted": ""}
    assert spec["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]
    assert spec["Labels"] == {"team": "web", OWNER: "dockyard.fleet.docker_networks"}
    assert network_spec(declared("back"), "local")["IPAM"]["Config"] == []


@pytest.mark.parametrize(("extra", "scope", "message"), [
    ({"driver": "bridge"}, "swarm", "driver bridge belongs to scope local"),
    ({"encrypted": True}, "local", "attachable and encrypted are overlay settings"),
    ({"subnet": "10.9.0.0/24", "gateway": "10.9.0.0"}, "local", "gateway 10.9.0.0 is not a usable address"),
    ({"subnet": "10.9.0.0/24", "ip_range": "10.8.0.0/25"}, "local", "ip_range 10.8.0.0/25 is not a usable"),
    ({"gateway": "10.9.0.1"}, "local", "gateway and ip_range need a subnet"),
    ({"subnet": "10.9.0.300/24"}, "local", "subnet '10.9.0.300/24' is not valid"),
])
def test_a_declaration_that_cannot_be_made_is_refused_naming_the_network_and_setting(extra, scope, message):
    with pytest.raises(Refused, match=message) as refused:
        network_spec(declared("front", **extra), scope)
    assert str(refused.value).startswith("network front: ")


def test_overlapping_subnets_are_refused_among_the_declared_and_against_networks_that_stay():
    a = network_spec(declared("a", subnet="10.9.0.0/24"), "local")
    b = network_spec(declared("b", subnet="10.9.0.128/25"), "local")
    with pytest.raises(Refused, match=r"networks a \(10.9.0.0/24\) and b \(10.9.0.128/25\) overlap"):
        check_overlaps([a, b], [])
    existing = [{"Name": "other", "IPAM": {"Config": [{"Subnet": "10.9.0.0/16"}]}}]
    with pytest.raises(Refused, match="overlaps the existing network other"):
        check_overlaps([a], existing)
    check_overlaps([a], [{"Name": "a", "IPAM": {"Config": [{"Subnet": "10.9.0.0/16"}]}}])  # itself: replaced


def test_only_declared_settings_count_as_differences():
    spec = network_spec(declared("front", subnet="10.9.0.0/24"), "local")
    current = {"Driver": "bridge", "Internal": False, "Attachable": False, "Labels": dict(spec["Labels"]),
               "Options": {"com.docker.network.bridge.name": "br-x"},  # filled in by the Engine
               "IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]}}
    assert differences(current, spec) == []
    current["Options"]["encrypted"] = ""
    current["Labels"] = {}
    assert differences(current, spec) == ["encrypted -> false", "labels"]
