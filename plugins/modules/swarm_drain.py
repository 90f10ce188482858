#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: swarm_drain
short_description: Drain one swarm node until its tasks run elsewhere, or bring it back and wait for its tasks
description:
  - Runs on a swarm manager (usually delegated to one that is not the node itself) around a disruptive change on
    one node, such as a restart or upgrade of its Engine.
  - With O(availability=drain), sets the node to drain and waits until none of its replicated tasks runs on it any
    more and every replicated service runs its replicas on other nodes (running, not just scheduled).
  - With O(availability=active) (or C(pause)), first waits until the node is Ready again, sets the availability,
    then waits until every replicated service runs its replicas and the node runs a task of each of
    O(global_services) again.
  - The node is found by its C(dockyard.host) label (set by M(dockyard.fleet.swarm_nodes)) or its hostname. A
    host that is not a node of the swarm, or a manager that is in no swarm yet, is left alone.
version_added: 1.1.0
author: dockyard developers (@dockyard)
options:
  node:
    description: The node's inventory name (its C(dockyard.host) label) or hostname.
    type: str
    required: true
  availability:
    description: C(drain) before the change; the availability the inventory declares after it.
    type: str
    choices: [active, pause, drain]
    required: true
  wait_timeout:
    description: Seconds to wait for the tasks (and, when bringing a node back, for the node to be Ready).
    type: int
    default: 300
  global_services:
    description:
      - When bringing a node back, the global services whose task must run on it again before the module returns
        (RV(global_services) of the drain).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
  - dockyard.fleet.docker.changing_module
"""

EXAMPLES = r"""
- name: Drain node2 before its Engine restarts
  dockyard.fleet.swarm_drain:
    node: node2
    availability: drain
  delegate_to: node1

- name: Bring node2 back once its Engine answers
  dockyard.fleet.swarm_drain:
    node: node2
    availability: active
  delegate_to: node1
"""

RETURN = r"""
node_id:
  description: The node's ID; empty when the host is not a node of the swarm.
  returned: always
  type: str
global_services:
  description: The global services that ran a task on the node before it was drained (or that were waited for).
  returned: always
  type: list
  elements: str
waited:
  description: Seconds spent waiting for the node and its tasks.
  returned: always
  type: float
"""

import json
import time

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    HOST_LABEL,
    DockerError,
    wait_for,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._module import Differences, DockyardModule


def find_node(nodes, name):
    for node in nodes:
        if ((node.get("Spec") or {}).get("Labels") or {}).get(HOST_LABEL) == name:
            return node
    return next((n for n in nodes if (n.get("Description") or {}).get("Hostname") == name), None)


def shortfall(services, tasks, node_id, drained, on_node):
    """What still keeps the swarm from having moved the node's work (drained) or taken it back: replicated services
    running fewer tasks than their replicas, or (drained) still running on the node, and global services of
    ``on_node`` without a running task on it. Tasks are those whose desired state is running."""
    running = [t for t in tasks if (t.get("Status") or {}).get("State") == "running"]
    missing = []
    for service in services:
        name, mode = service["Spec"]["Name"], service["Spec"].get("Mode") or {}
        mine = [t for t in running if t["ServiceID"] == service["ID"]]
        if "Replicated" in mode:
            want = mode["Replicated"].get("Replicas", 1)
            elsewhere = [t for t in mine if t.get("NodeID") != node_id] if drained else mine
            if len(elsewhere) < want:
                missing.append(f"{name} {len(elsewhere)}/{want}")
            if drained and len(elsewhere) < len(mine):
                missing.append(f"{name} still on the node")
        elif name in on_node and not any(t.get("NodeID") == node_id for t in mine):
            missing.append(f"{name} on the node")
    return missing


def global_on(services, tasks, node_id):
    """Global services with a running task on the node."""
    ids = {t["ServiceID"] for t in tasks if t.get("NodeID") == node_id
           and (t.get("Status") or {}).get("State") == "running"}
    return sorted(s["Spec"]["Name"] for s in services if s["ID"] in ids and "Global" in (s["Spec"].get("Mode") or {}))


def wait_until(check, timeout, what):
    """Poll check() (which returns what is still missing) until it returns nothing."""
    missing = wait_for(check, timeout)
    if missing:
        raise DockerError(f"{what} within {timeout}s; still waiting for: {', '.join(missing)}")


def main():
    module = DockyardModule(
        argument_spec=dict(
            node={"type": "str", "required": True},
            availability={"type": "str", "choices": ["active", "pause", "drain"], "required": True},
            wait_timeout={"type": "int", "default": 300},
            global_services={"type": "list", "elements": "str", "default": []},
        ),
        supports_check_mode=True,
    )
    params = module.params
    manager = module.host
    api = module.api
    started = time.monotonic()
    want = params["availability"]
    try:
        if ((api.info().get("Swarm") or {}).get("LocalNodeState") or "inactive") == "inactive":
            module.exit_json(changed=False, node_id="", global_services=[], waited=0.0)  # no swarm yet: no work
        node = find_node(api.get("/nodes"), params["node"])
    except DockerError as exc:
        module.fail_json(msg=f"Reading the swarm's nodes on {manager} failed: {exc}. Is it a manager of the swarm?")
    if node is None:
        module.exit_json(changed=False, node_id="", global_services=[], waited=0.0)
    have = node["Spec"].get("Availability")
    differences = Differences()
    differences.add("availability", have, want)
    result = differences.report(module, {"node_id": node["ID"]})
    if module.check_mode:
        module.exit_json(waited=0.0, global_services=params["global_services"], **result)

    def state():
        return api.get("/services"), api.get("/tasks", filters=json.dumps({"desired-state": ["running"]}))

    def node_state():
        current = api.get(f"/nodes/{node['ID']}")
        status = (current.get("Status") or {}).get("State")
        return [] if status == "ready" else [f"{params['node']} is {status}"]

    drained = want == "drain"
    try:
        if not drained:
            wait_until(node_state, params["wait_timeout"], f"{params['node']} did not become Ready")
        result["global_services"] = global_on(*state(), node["ID"]) if drained else params["global_services"]
        if have != want:
            current = api.get(f"/nodes/{node['ID']}")
            api.request("POST", f"/nodes/{node['ID']}/update", query={"version": current["Version"]["Index"]},
                        body=dict(current["Spec"], Availability=want))
        what = (f"the replicated tasks of {params['node']} did not run on other nodes" if drained
                else f"the tasks of {params['node']} did not run again")
        on_node = [] if drained else result["global_services"]
        wait_until(lambda: shortfall(*state(), node["ID"], drained, on_node),
                   params["wait_timeout"], what)
    except DockerError as exc:
        module.fail_json(msg=f"Setting swarm node {params['node']} to {want} from {manager} failed: {exc}. Its "
                             f"availability is now what `docker node inspect {params['node']}` shows; set it with "
                             "`docker node update --availability` if needed.", **result)
    module.exit_json(waited=round(time.monotonic() - started, 1), **result)


if __name__ == "__main__":
    main()
