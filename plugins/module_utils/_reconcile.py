# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared end of the modules that reconcile a set of named Engine objects (networks, volumes): a plan of
(action, desired, current) steps is reported, diffed, and - outside check mode - carried out in order."""

from ansible_collections.dockyard.fleet.plugins.module_utils._module import Differences


def declared_twice(names):
    """Names that occur more than once, sorted."""
    return sorted({name for name in names if names.count(name) > 1})


def report_and_apply(module, result, plan, summary, remove, create):
    """Record ``plan`` in ``result`` (its action lists, changed, diff); outside check mode, carry it out: each step
    removes its current object and creates its desired one."""
    differences = Differences()
    for action, desired, current in plan:
        name = (desired or current)["Name"]
        result[action].append(name)
        differences.add(name, current and summary(current), desired and summary(desired))
    result["changed"] = bool(plan)  # also a recreation whose summary does not show why
    differences.report(module, result)
    if module.check_mode:
        return
    for _action, desired, current in plan:
        if current is not None:
            remove(current)
        if desired is not None:
            create(desired)
