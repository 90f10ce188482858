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


class Refused(Exception):
    """A request a module will not carry out, saying why and what to do instead; raised before any change."""


class DockyardModule(AnsibleModule):
    """``engine=False`` for a module that does not talk to the Engine (no docker_host, no client)."""

    def __init__(self, argument_spec, engine=True, **kwargs):
        super().__init__(argument_spec=dict(COMMON_ARGS, **argument_spec) if engine else argument_spec, **kwargs)
        self.host = os.uname().nodename
        self.api = client_from_params(self.params) if engine else None

    def before_install(self, read, nothing):
        """``read()``, or in check mode with no Engine answering yet (about to be installed), ``nothing``."""
        return or_before_install(self, read, nothing)


class Differences:
    """Each item a module compares, before and after: ``changed`` and the diff come from this one record."""

    def __init__(self):
        self.before, self.after = {}, {}

    def add(self, item, before, after):
        """Record one item; whether it differs."""
        self.before[item], self.after[item] = before, after
        return before != after

    @property
    def changed(self):
        return any(self.before[item] != self.after[item] for item in self.before)

    def report(self, module, result):
        """``result`` with ``changed`` (also when it says so already) and, in the module's diff mode, the diff."""
        return self.summary(result, module._diff)

    def summary(self, result, diff):
        """``result`` with ``changed`` (also when it says so already) and, with ``diff``, the diff."""
        result["changed"] = bool(result.get("changed")) or self.changed
        if diff:
            result["diff"] = {"before": dict(self.before), "after": dict(self.after)}
        return result
