# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared end of the modules that reconcile a set of named Engine objects (networks, volumes): a plan of
(action, desired, current) steps is reported, diffed, and - outside check mode - carried out in order."""


def declared_twice(names):
    """Names that occur more than once, sorted."""
    return sorted({name for name in names if names.count(name) > 1})


def report_and_apply(module, result, plan, summary, remove, create):
    """Record ``plan`` in ``result`` (its action lists, changed, diff). In check mode the module ends here;
    otherwise each step removes its current object and creates its desired one."""
    for action, desired, current in plan:
        result[action].append((desired or current)["Name"])
    result["changed"] = bool(plan)
    if module._diff:
        result["diff"] = {"before": {c["Name"]: summary(c) for _action, _desired, c in plan if c},
                          "after": {d["Name"]: summary(d) for _action, d, _current in plan if d}}
    if module.check_mode:
        module.exit_json(**result)
    for _action, desired, current in plan:
        if current is not None:
            remove(current)
        if desired is not None:
            create(desired)
