#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: swarm_nodes
short_description: Reconcile every swarm node's role, labels and availability in one call on a manager
description:
  - Runs on one swarm manager and brings the whole node list to the declared state in one call, promoting
    before demoting so the swarm keeps its quorum during the change.
  - Refuses, before changing anything, a result with an even number of managers, a role change while a manager is
    not Ready (the raft quorum would rest on a node that is down), or a result where half the managers are down.
  - Every declared node carries the label C(dockyard.host) with its inventory name, so a node whose host is gone
    can still be found and removed by its node ID from a manager.
  - Old node objects of a host that joined again with a new node ID (rebuilt, or after a C(swarm leave)) are
    demoted and removed, so a dead duplicate never counts against the quorum.
  - Nodes labelled with a host that is not in O(inventory_hosts) are drained (their tasks running elsewhere first),
    demoted and removed. With O(prune), other nodes that are not declared are too.
version_added: 1.0.0
author: dockyard developers (@dockyard)
options:
  nodes:
    description: The declared nodes.
    type: list
    elements: dict
    required: true
    suboptions:
      node_id:
        description: The node's swarm ID (from M(dockyard.fleet.swarm_member)).
        type: str
        required: true
      name:
        description: Inventory name, for messages and the diff.
        type: str
        required: true
      role:
        description: Swarm role.
        type: str
        choices: [manager, worker]
        required: true
      labels:
        description: The node's whole label set; labels not listed are removed.
        type: dict
        default: {}
      availability:
        description: Scheduling availability.
        type: str
        choices: [active, pause, drain]
        default: active
  inventory_hosts:
    description:
      - Every host of the inventory's swarm groups (also those not in this run). A node labelled with a host not in
        this list has left the inventory and is removed. Omitted, no node is removed for that reason.
    type: list
    elements: str
  prune:
    description: Drain, demote and remove every node that is not in O(nodes), also those dockyard did not join.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for promoted nodes to become reachable raft members and demoted ones to leave the raft,
        before demoting further nodes and before returning.
      - Also how long to wait, before deciding anything, for nodes whose status is C(unknown) (every node, for a
        few seconds after the swarm's leader changed) to report in.
    type: int
    default: 60
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
attributes:
  check_mode:
    support: full
    details: Validates and reports every node change without making it.
  diff_mode:
    support: full
    details: Role, availability and labels of each node before and after.
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Roles, labels and availability of every node
  dockyard.fleet.swarm_nodes:
    nodes:
      - {node_id: "{{ hostvars.node1.swarm.node_id }}", name: node1, role: manager, labels: {zone: a}}
      - {node_id: "{{ hostvars.node2.swarm.node_id }}", name: node2, role: worker, availability: drain}
"""

RETURN = r"""
changes:
  description: One line per change made (or that would be made).
  returned: always
  type: list
  elements: str
  sample: ["promote node3", "label node2 zone=b"]
"""

import json

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import HOST_LABEL, DockerError, wait_for
from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule, Refused
from ansible_collections.dockyard.fleet.plugins.module_utils._swarm_nodes import hostname, node_view, plan, ready


def settled_nodes(api, timeout, declared):
    """The node list once no node's status is "unknown" and no old node object of a declared host is still
    ready, as long as the wait allows. A manager that has just become the leader marks every node unknown until
    its next heartbeat (and a manager that has just joined reads that), which would pass for managers being down.
    A host that left and joined again leaves its old node object behind (its dockyard.host label, another ID),
    which the swarm marks down only at its first missed heartbeat, seconds after the leave: until then it would
    count as one more live manager."""
    declared_ids = {d["node_id"] for d in declared}
    names = {d["name"] for d in declared}
    nodes = []

    def pending():
        nodes[:] = api.get("/nodes")
        return [n for n in nodes if (n.get("Status") or {}).get("State") == "unknown"
                or (ready(n) and n["ID"] not in declared_ids and node_view(n)["labels"].get(HOST_LABEL) in names)]

    wait_for(pending, timeout, 0.5)
    return nodes


def wait_for_roles(api, updates, timeout):
    """Promotions and demotions take effect in the raft a moment after the update call."""
    def pending():
        by_id = {node["ID"]: node for node in api.get("/nodes")}
        return [name for node, name, want, _words in updates
                if (((by_id.get(node["ID"]) or {}).get("ManagerStatus") or {}).get("Reachability") == "reachable")
                != (want["role"] == "manager") and node["ID"] in by_id and ready(by_id[node["ID"]])]

    left = wait_for(pending, timeout, 0.5)
    if left:
        raise DockerError(f"{', '.join(left)} did not take the new role within {timeout}s")


def wait_until_drained(api, node, name, timeout):
    """A node leaving the swarm keeps its tasks until they run elsewhere: wait until none runs on it."""
    query = {"filters": json.dumps({"node": [node["ID"]], "desired-state": ["running"]})}
    if wait_for(lambda: [t for t in api.get("/tasks", **query) if (t.get("Status") or {}).get("State") == "running"],
                timeout):
        raise DockerError(f"tasks still run on {name} {timeout}s after it was drained")


def main():
    module = DockyardModule(
        argument_spec=dict(
            nodes={"type": "list", "elements": "dict", "required": True, "options": {
                "node_id": {"type": "str", "required": True},
                "name": {"type": "str", "required": True},
                "role": {"type": "str", "choices": ["manager", "worker"], "required": True},
                "labels": {"type": "dict", "default": {}},
                "availability": {"type": "str", "choices": ["active", "pause", "drain"], "default": "active"},
            }},
            prune={"type": "bool", "default": False},
            inventory_hosts={"type": "list", "elements": "str"},
            wait_timeout={"type": "int", "default": 60},
        ),
        supports_check_mode=True,
    )
    api = module.api
    try:
        current = settled_nodes(api, module.params["wait_timeout"], module.params["nodes"])
        updates, removals = plan(current, module.params["nodes"], module.params["prune"],
                                 module.params["inventory_hosts"])
    except Refused as exc:
        module.fail_json(msg=f"Refused to change the swarm's nodes: {exc}. Nothing was changed.")
    except DockerError as exc:
        module.fail_json(msg=f"Reading the swarm's nodes failed: {exc}. Is this host a manager?")

    changes = [words for _node, _name, _want, words in updates]
    changes += [f"remove {name} ({why})" for _node, name, why in removals]
    if not module.check_mode:
        try:
            for index, (node, _name, want, _words) in enumerate(updates):
                if want["role"] == "worker" and node_view(node)["role"] == "manager":
                    wait_for_roles(api, updates[:index], module.params["wait_timeout"])  # promoted ones first
                spec = dict(node.get("Spec") or {}, Role=want["role"], Availability=want["availability"],
                            Labels=want["labels"])
                api.request("POST", f"/nodes/{node['ID']}/update", query={"version": node["Version"]["Index"]},
                            body=spec)
            wait_for_roles(api, [u for u in updates if u[2]["role"] != node_view(u[0])["role"]],
                           module.params["wait_timeout"])
            for node, name, _why in removals:
                if ready(node):
                    wait_until_drained(api, node, name, module.params["wait_timeout"])
                api.request("DELETE", f"/nodes/{node['ID']}", query={"force": "true"})
        except DockerError as exc:
            module.fail_json(msg=f"Changing the swarm's nodes failed after: {changes}: {exc}", changes=changes)
    result = {"changed": bool(changes), "changes": changes}
    if module._diff:
        names = {d["node_id"]: d["name"] for d in module.params["nodes"]}

        def key(node):
            return names.get(node["ID"]) or f"{hostname(node)} ({node['ID'][:12]})"

        before = {key(n): node_view(n) for n in current}
        after = dict(before)
        for node, _name, want, _words in updates:
            after[key(node)] = want
        for node, _name, _why in removals:
            after.pop(key(node), None)
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
