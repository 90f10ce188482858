# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""registry_login: the stored login and the CA are read on the host's Python alone (plugin_utils._remote); the module
is sent only to change them or to wait for the registry."""

import secrets

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import COMMON_ARGS
from ansible_collections.dockyard.fleet.plugins.module_utils._registry_auth import (
    LOGIN_ARGS,
    LOGIN_REQUIRED_IF,
    password_proof,
)
from ansible_collections.dockyard.fleet.plugins.plugin_utils import _remote

# The paths are the host's: checked here as text, expanded (~) on the host, not on the control machine.
HOST_PATHS_AS_GIVEN = {option: dict(spec, type="str") if spec["type"] == "path" else spec
                       for option, spec in LOGIN_ARGS.items()}


def read_args(args):
    """login_state's arguments for the read sent to the host as a program: the password as a salted proof only (the
    program's text may sit in a file on the host, or show in a traceback)."""
    salt = secrets.token_hex(16)
    return dict({key: args[key] for key in LOGIN_ARGS if key not in ("wait_timeout", "password")}, salt=salt,
                proof=None if args["password"] is None else password_proof(args["password"], salt))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(dict(COMMON_ARGS, **HOST_PATHS_AS_GIVEN),
                                                        required_if=LOGIN_REQUIRED_IF)
        state = _remote.run(self, task_vars or {}, ["_registry_auth"], "login_state",
                            f"Reading the login for registry {args['registry']} and its CA", **read_args(args))
        if state.get("failed"):
            raise AnsibleActionFail(state["msg"])
        changed = state["before"] != state["after"]
        if not self._task.check_mode and (changed or args["wait_timeout"] > 0):
            result.update(self._execute_module(module_name="dockyard.fleet.registry_login",
                                               module_args=self._task.args, task_vars=task_vars))
            return result
        result.update({key: state[key] for key in ("config_path", "ca_path") if key in state}, changed=changed)
        if self._task.diff:
            result["diff"] = {"before": state["before"], "after": state["after"]}
        return result
