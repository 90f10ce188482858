# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each attribute a module declares means; the module says how far it supports it."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Runs in check mode and predicts whether it would change something, without changing it.
  diff_mode:
    description: Returns what changed (or would change in check mode) as a before/after diff in diff mode.
  idempotent:
    description: Run twice in a row with the same arguments, the second run reports no change.
"""

    # For a module with an action plugin of the same name (the work it does on the control machine).
    ACTION = r"""
attributes:
  action:
    description: Has a part that runs on the control machine before the module runs on the target.
"""
