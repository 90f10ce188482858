# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one shape of the collection's modules: AnsibleModule with the common Engine options (doc fragment
dockyard.fleet.docker), the host's name for messages, the Engine client, and check mode before the Engine
is installed."""

from __future__ import annotations

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    COMMON_ARGS,
    client_from_params,
    or_before_install,
)


class DockyardModule(AnsibleModule):
    """``engine=False`` for a module that does not talk to the Engine (no docker_host, no client)."""

    def __init__(self, argument_spec, engine=True, **kwargs):
        super().__init__(argument_spec=dict(COMMON_ARGS, **argument_spec) if engine else argument_spec, **kwargs)
        self.host = os.uname().nodename
        self.api = client_from_params(self.params) if engine else None

    def before_install(self, read, nothing):
        """``read()``, or in check mode with no Engine answering yet (about to be installed), ``nothing``."""
        return or_before_install(self, read, nothing)
