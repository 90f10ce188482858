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
    more and every service runs as many tasks as it wants, so the node's work runs on other nodes, not just
    scheduled there.
  - With O(availability=active) (or C(pause)), first waits until the node is Ready again, sets the availability,
    then waits until every service runs as many tasks as it wants (the node's global tasks run again).
  - The node is found by its C(dockyard.host) label (set by M(dockyard.fleet.swarm_nodes)) or its hostname. A
    host that is not a node of the swarm is left alone.
version_added: 1.1.0
author: dockyard developers
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
extends_documentation_fragment:
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
waited:
  description: Seconds spent waiting for the node and its tasks.
  returned: always
  type: float
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    COMMON_ARGS,
    DockerError,
    client_from_params,
)

HOST_LABEL = "dockyard.host"


def find_node(nodes, name):
    for node in nodes:
        if ((node.get("Spec") or {}).get("Labels") or {}).get(HOST_LABEL) == name:
            return node
    return next((n for n in nodes if (n.get("Description") or {}).get("Hostname") == name), None)


def short_services(services):
    """Services running fewer tasks than they want, as 'name running/desired'."""
    return [f"{s['Spec']['Name']} {s['ServiceStatus']['RunningTasks']}/{s['ServiceStatus']['DesiredTasks']}"
            for s in services if (s.get("ServiceStatus") or {}).get("RunningTasks")
            != (s.get("ServiceStatus") or {}).get("DesiredTasks")]


def still_on(tasks, services):
    """Replicated services that still have a running task on the node."""
    replicated = {s["ID"]: s["Spec"]["Name"] for s in services if "Replicated" in (s["Spec"].get("Mode") or {})}
    return sorted({replicated[t["ServiceID"]] for t in tasks
                   if t["ServiceID"] in replicated and (t.get("Status") or {}).get("State") == "running"})


def wait_until(check, timeout, what):
    """Poll check() (which returns what is still missing) until it returns nothing."""
    deadline = time.monotonic() + timeout
    while True:
        missing = check()
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise DockerError(f"{what} within {timeout}s; still waiting for: {', '.join(missing)}")
        time.sleep(1)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            COMMON_ARGS,
            node={"type": "str", "required": True},
            availability={"type": "str", "choices": ["active", "pause", "drain"], "required": True},
            wait_timeout={"type": "int", "default": 300},
        ),
        supports_check_mode=True,
    )
    params = module.params
    manager = os.uname().nodename
    api = client_from_params(params)
    started = time.monotonic()
    want = params["availability"]
    try:
        node = find_node(api.get("/nodes"), params["node"])
    except DockerError as exc:
        module.fail_json(msg=f"Reading the swarm's nodes on {manager} failed: {exc}. Is it a manager of the swarm?")
    if node is None:
        module.exit_json(changed=False, node_id="", waited=0.0)
    have = node["Spec"].get("Availability")
    result = {"changed": have != want, "node_id": node["ID"]}
    if module._diff:
        result["diff"] = {"before": {"availability": have}, "after": {"availability": want}}
    if module.check_mode:
        module.exit_json(waited=0.0, **result)

    def services():
        return api.get("/services", status="true")

    def node_tasks():
        return api.get("/tasks", filters=json.dumps({"node": [node["ID"]], "desired-state": ["running"]}))

    def node_state():
        current = api.get(f"/nodes/{node['ID']}")
        state = (current.get("Status") or {}).get("State")
        return [] if state == "ready" else [f"{params['node']} is {state}"]

    try:
        if want != "drain":
            wait_until(node_state, params["wait_timeout"], f"{params['node']} did not become Ready")
        if have != want:
            current = api.get(f"/nodes/{node['ID']}")
            api.request("POST", f"/nodes/{node['ID']}/update", query={"version": current["Version"]["Index"]},
                        body=dict(current["Spec"], Availability=want))
        if want == "drain":
            wait_until(lambda: [f"{name} on {params['node']}" for name in still_on(node_tasks(), services())],
                       params["wait_timeout"], f"the replicated tasks of {params['node']} did not leave it")
        wait_until(lambda: short_services(services()), params["wait_timeout"],
                   "the swarm's services did not run all their tasks again")
    except DockerError as exc:
        module.fail_json(msg=f"Setting swarm node {params['node']} to {want} from {manager} failed: {exc}. Its "
                             f"availability is now what `docker node inspect {params['node']}` shows; set it with "
                             "`docker node update --availability` if needed.", **result)
    module.exit_json(waited=round(time.monotonic() - started, 1), **result)


if __name__ == "__main__":
    main()
