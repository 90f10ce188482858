# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""engine_info: the Engine read runs on the host's Python alone (plugin_utils._remote), not as a module."""

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import COMMON_ARGS
from ansible_collections.dockyard.fleet.plugins.plugin_utils import _remote

ARGUMENT_SPEC = dict(COMMON_ARGS,
                     wait_timeout={"type": "int", "default": 0},
                     missing_ok={"type": "bool", "default": False},
                     nodes={"type": "bool", "default": False})


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(ARGUMENT_SPEC)
        answer = _remote.run(self, task_vars or {}, ["_docker_api", "_engine_state"], "read",
                             "Reading Docker Engine's state", **args)
        if answer.get("failed"):
            raise AnsibleActionFail(answer["msg"])
        result.update(changed=False, engine=answer["engine"])
        return result
