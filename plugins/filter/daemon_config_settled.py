# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether daemon.json is as daemon_config would write it, and read by dockerd, from a read of the host."""

from ansible_collections.dockyard.fleet.plugins.module_utils._daemon_config import settled

DOCUMENTATION = r"""
name: daemon_config_settled
short_description: Whether daemon.json is as wanted and read by dockerd, so daemon_config has nothing to do
version_added: 1.2.0
author: dockyard developers (@dockyard)
description:
  - Makes the settings M(dockyard.fleet.daemon_config) would write from its options, checks them as it does, and
    compares the SHA-256 of their text with the host's file.
  - True only when the file holds exactly that text and no file dockerd reads was written after dockerd started (the
    module's RV(dockyard.fleet.daemon_config#module:pending_restart)); anything else (another text, a refused
    setting, a host whose swarm membership is not declared) is false, and the module is asked.
options:
  _input:
    description:
      - The module's options O(dockyard.fleet.daemon_config#module:path),
        O(dockyard.fleet.daemon_config#module:settings), O(dockyard.fleet.daemon_config#module:defaults),
        O(dockyard.fleet.daemon_config#module:log_max_size), O(dockyard.fleet.daemon_config#module:log_max_file),
        O(dockyard.fleet.daemon_config#module:live_restore), O(dockyard.fleet.daemon_config#module:swarm_node),
        O(dockyard.fleet.daemon_config#module:flags) and O(dockyard.fleet.daemon_config#module:allow_keys).
    type: dict
    required: true
  read:
    description:
      - The host's answers to C(sha256sum) of the file, C(systemctl show docker --timestamp=unix -p
        ExecMainStartTimestamp) and C(stat -c '%Y %n') of the files dockerd reads, a line each.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Write daemon.json, unless the read shows it written as wanted and read by dockerd
  dockyard.fleet.daemon_config:
    settings: "{{ options.settings }}"
    swarm_node: true
  when: not (options | dockyard.fleet.daemon_config_settled(engine_read.stdout))
"""

RETURN = r"""
_value:
  description: Whether daemon_config would change nothing and report no pending restart.
  type: bool
"""


class FilterModule:
    def filters(self):
        return {"daemon_config_settled": settled}
