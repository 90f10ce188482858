# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The swarm role's proof that its nodes need nothing: the same plan as M(dockyard.fleet.swarm_nodes), made on the
control machine from a node list read earlier in the run."""

from ansible_collections.dockyard.fleet.plugins.module_utils._swarm_nodes import settled

DOCUMENTATION = r"""
name: swarm_nodes_settled
short_description: Whether a swarm's nodes are as declared already, so swarm_nodes has nothing to do
version_added: 1.2.0
author: dockyard developers (@dockyard)
description:
  - Makes the plan M(dockyard.fleet.swarm_nodes) makes (roles, labels, availability, nodes to remove) from a node
    list a manager returned (M(dockyard.fleet.engine_info) with O(dockyard.fleet.engine_info#module:nodes)).
  - True only when every node of the swarm is ready and the plan is empty; anything else (a node down, a change,
    a refusal) is false, and the module is asked.
options:
  _input:
    description: The declared nodes, as O(dockyard.fleet.swarm_nodes#module:nodes) takes them.
    type: list
    elements: dict
    required: true
  current:
    description: The swarm's node list (RV(dockyard.fleet.engine_info#module:engine.swarm.nodes)).
    type: list
    elements: dict
  prune:
    description: As O(dockyard.fleet.swarm_nodes#module:prune).
    type: bool
    default: false
  inventory_hosts:
    description: As O(dockyard.fleet.swarm_nodes#module:inventory_hosts).
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Set every node's role, labels and availability, unless the read shows them so
  dockyard.fleet.swarm_nodes:
    nodes: "{{ declared }}"
  when: not (declared | dockyard.fleet.swarm_nodes_settled(leader_read.engine.swarm.nodes))
"""

RETURN = r"""
_value:
  description: Whether the nodes need nothing.
  type: bool
"""


def swarm_nodes_settled(declared, current, prune=False, inventory_hosts=None):
    return settled(current or [], declared, prune, inventory_hosts)


class FilterModule:
    def filters(self):
        return {"swarm_nodes_settled": swarm_nodes_settled}
