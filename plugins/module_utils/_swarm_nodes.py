# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the swarm's nodes must change to be as declared: the plan of M(dockyard.fleet.swarm_nodes), also asked on the
control machine (filter swarm_nodes_settled) to tell from a read that there is nothing to change."""

from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import HOST_LABEL
from ansible_collections.dockyard.fleet.plugins.module_utils._module import Refused


def hostname(node):
    return (node.get("Description") or {}).get("Hostname") or node["ID"]


def ready(node):
    return (node.get("Status") or {}).get("State") == "ready"


def node_view(node):
    spec = node.get("Spec") or {}
    return {"role": spec.get("Role"), "availability": spec.get("Availability"), "labels": spec.get("Labels") or {}}


def leaving(by_id, declared, prune, inventory_hosts):
    """Nodes to remove, each (node, name, why): old node objects of hosts that re-joined with a new ID (rebuilt, or
    after a leave), nodes of hosts no longer in the inventory's swarm groups, and with prune every other
    undeclared node."""
    declared_ids = {d["node_id"] for d in declared}
    names = {hostname(by_id[d["node_id"]]): d["name"] for d in declared}
    names.update({d["name"]: d["name"] for d in declared})
    result = []
    for node in by_id.values():
        if node["ID"] in declared_ids:
            continue
        owner = node_view(node)["labels"].get(HOST_LABEL)
        if not ready(node) and (names.get(owner) or names.get(hostname(node))):
            result.append((node, names.get(owner) or names[hostname(node)], "replaced by its new node"))
        elif owner and inventory_hosts is not None and owner not in inventory_hosts:
            result.append((node, owner, "no longer in swarm_managers or swarm_workers"))
        elif prune and (not owner or inventory_hosts is None):
            result.append((node, hostname(node), "not declared"))
    return result


def plan(current, declared, prune, inventory_hosts=None):
    """Ordered (node, name, new spec, description) updates and (node, name, why) removals; raise Refused on a bad
    result."""
    by_id = {node["ID"]: node for node in current}
    missing = [d["name"] for d in declared if d["node_id"] not in by_id]
    if missing:
        raise Refused(f"{', '.join(missing)} not in this swarm's node list; run the swarm role on them first")
    updates = []
    for d in declared:
        node = by_id[d["node_id"]]
        want = {"role": d["role"], "availability": d["availability"],
                "labels": dict(d["labels"], **{HOST_LABEL: d["name"]})}
        have = node_view(node)
        if want != have:
            words = [f"{'promote' if want['role'] == 'manager' else 'demote'} {d['name']}"] \
                if want["role"] != have["role"] else []
            if want["availability"] != have["availability"]:
                words.append(f"set {d['name']} {want['availability']}")
            if want["labels"] != have["labels"]:
                words.append(f"label {d['name']} " + " ".join(f"{k}={v}" for k, v in sorted(want["labels"].items())))
            updates.append((node, d["name"], want, "; ".join(words)))
    removals = leaving(by_id, declared, prune, inventory_hosts)
    role_changes = [u for u in updates if u[2]["role"] != node_view(u[0])["role"]]
    for node, name, _why in removals:
        have = node_view(node)
        # A raft member must be demoted before it can be removed; a live node is drained first. A dead node's
        # object outside the raft (after a recovery) is removed as it is: the swarm refuses to update it.
        if node.get("ManagerStatus") or (ready(node) and have["availability"] != "drain"):
            updates.append((node, name, dict(have, role="worker", availability="drain"), f"drain {name}"))
    # Promotions first, then the rest, so quorum never rests on fewer managers than before.
    updates.sort(key=lambda update: update[2]["role"] != "manager")
    removed = {node["ID"] for node, _name, _why in removals}
    final = {n["ID"]: node_view(n)["role"] for n in current if n["ID"] not in removed}
    final.update({node["ID"]: want["role"] for node, _name, want, _words in updates if node["ID"] not in removed})
    managers = [node_id for node_id, role in final.items() if role == "manager"]
    if len(managers) % 2 == 0:
        raise Refused(f"the swarm would have {len(managers)} managers; an even number tolerates no more failures "
                      "than one fewer and risks a split vote. Keep swarm_managers odd (1, 3, 5 or 7)")
    down = [hostname(by_id[m]) for m in managers if not ready(by_id[m])]
    if down and (role_changes or len(down) * 2 >= len(managers)):
        raise Refused(f"manager(s) {', '.join(down)} not Ready; the swarm's quorum would rest on them. "
                      "Bring them back or remove them from swarm_managers")
    return updates, removals


def settled(current, declared, prune, inventory_hosts=None):
    """Whether the nodes are as declared already: every node of the swarm ready, nothing to update or remove."""
    if not current or not all(ready(node) for node in current):
        return False
    try:
        updates, removals = plan(current, declared, prune, inventory_hosts)
    except Refused:
        return False  # the module says why
    return not updates and not removals
