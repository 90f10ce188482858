# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side choice of the manager a swarm is recovered from, pure so that unit tests reach every case."""

DOCUMENTATION = r"""
name: swarm_recovery
short_description: Choose the manager to recover a swarm from, and the managers whose swarm state is stale
version_added: 1.1.0
author: dockyard developers (@dockyard)
description:
  - Takes the M(dockyard.fleet.swarm_recover) result of every manager that answered, and their host names.
  - When some manager's swarm has a leader, there is nothing to rebuild; the swarm kept is the one recovered last
    (newest C(dockyard.recovered) label), and managers of any other (an older partition that came back) are stale.
  - Otherwise the manager with the newest raft state (highest raft index, then the latest write) is the one to
    rebuild from, and every other manager is stale.
options:
  _input:
    description: The M(dockyard.fleet.swarm_recover) results.
    type: list
    elements: dict
    required: true
  hosts:
    description: The host name of each result, in the same order.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Choose the manager to recover from
  ansible.builtin.set_fact:
    plan: "{{ states | dockyard.fleet.swarm_recovery(ansible_play_hosts) }}"
"""

RETURN = r"""
_value:
  description: The choice.
  type: dict
  contains:
    source: {description: The manager to keep (or rebuild) the swarm from; empty when no manager holds it., type: str}
    rebuild: {description: Whether the swarm must be rebuilt from it (no manager has a leader)., type: bool}
    stale: {description: Managers that must leave their swarm state and join again., type: list, elements: str}
"""


def swarm_recovery(states, hosts):
    managers = [dict(s, host=h) for s, h in zip(states, hosts, strict=True) if s.get("is_manager")]
    leaders = [s for s in managers if s.get("has_leader")]
    if leaders:
        source = max(leaders, key=lambda s: s.get("epoch") or "")
        epoch = source.get("epoch") or ""
        stale = [s["host"] for s in managers
                 if s is not source and (not s.get("has_leader") or (s.get("epoch") or "") != epoch)]
        return {"source": source["host"], "rebuild": False, "stale": stale}
    if not managers:
        return {"source": "", "rebuild": False, "stale": []}
    source = max(managers, key=lambda s: (s.get("raft_index") or 0, s.get("raft_modified") or 0))
    return {"source": source["host"], "rebuild": True, "stale": [s["host"] for s in managers if s is not source]}


class FilterModule:
    def filters(self):
        return {"swarm_recovery": swarm_recovery}
