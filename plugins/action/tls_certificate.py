# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tls_certificate: the CA lives on the control machine, so the work is done in the task's own worker process
(plugin_utils._pki), without starting a module."""

from ansible.plugins.action import ActionBase
from ansible_collections.dockyard.fleet.plugins.plugin_utils import _pki


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(_pki.ARGUMENT_SPEC, **_pki.ARGUMENT_RULES)
        result.update(_pki.issue(args, self._task.check_mode, self._task.diff))
        return result
