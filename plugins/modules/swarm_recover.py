#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: swarm_recover
short_description: Report a swarm manager's raft state, and rebuild a swarm that lost its quorum from one manager
description:
  - Without O(force_new_cluster), reports whether this manager's swarm has a leader and how new its raft state
    is, so that a playbook can choose the surviving manager to recover from. Changes nothing.
  - With O(force_new_cluster), on a manager whose swarm has no leader (a majority of managers is lost), runs
    C(docker swarm init --force-new-cluster), so this manager becomes the only manager of the same swarm, keeping its
    services, secrets, configs and networks. The swarm is then labelled C(dockyard.recovered) with the time, so
    managers that still hold the state from before the recovery are recognised as stale.
  - A swarm that has a leader is left as it is (nothing to recover), which makes the module idempotent.
  - A host whose Engine does not answer (rebuilt, not installed yet) is reported as holding no swarm state.
version_added: 1.1.0
author: dockyard developers (@dockyard)
options:
  force_new_cluster:
    description: Rebuild the swarm from this manager when it has no leader.
    type: bool
    default: false
  advertise_addr:
    description: Address other nodes reach this manager at.
    type: str
  listen_addr:
    description: Address the swarm manager API listens on.
    type: str
    default: 0.0.0.0:2377
  wait_timeout:
    description: Seconds to wait for the rebuilt swarm to elect this manager its leader.
    type: int
    default: 60
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
  - dockyard.fleet.docker.changing_module
"""

EXAMPLES = r"""
- name: Read each manager's raft state
  dockyard.fleet.swarm_recover:
  register: raft

- name: Rebuild the swarm from the chosen manager
  dockyard.fleet.swarm_recover:
    force_new_cluster: true
    advertise_addr: 10.0.0.11
"""

RETURN = r"""
is_manager:
  description: Whether this node is a swarm manager (with or without a leader).
  returned: always
  type: bool
has_leader:
  description: Whether the swarm answered through this manager (it has a leader).
  returned: always
  type: bool
raft_index:
  description: The highest raft index named by this manager's snapshot and WAL files (newer state is higher).
  returned: always
  type: int
raft_modified:
  description: When this manager last wrote its raft log (seconds since the epoch).
  returned: always
  type: float
epoch:
  description: The swarm's C(dockyard.recovered) label after the run (empty when never recovered).
  returned: always
  type: str
"""

import os
import time

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    EPOCH_LABEL,
    DockerError,
    DockerUnreachable,
    wait_for,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._module import Differences, DockyardModule


def raft_state(root):
    """(highest index in the raft file names, newest modification time) of a manager's raft directory."""
    index, modified = 0, 0.0
    for base, _dirs, files in os.walk(os.path.join(root, "swarm", "raft")):
        for name in files:
            stem, ext = os.path.splitext(name)
            if ext in (".wal", ".snap") and "-" in stem:
                try:
                    index = max(index, int(stem.rsplit("-", 1)[1], 16))
                except ValueError:
                    continue
                modified = max(modified, os.stat(os.path.join(base, name)).st_mtime)
    return index, modified


def read(api):
    info = api.info()
    swarm = info.get("Swarm") or {}
    state = {"is_manager": bool(swarm.get("ControlAvailable")), "has_leader": False, "epoch": ""}
    if state["is_manager"]:
        try:
            spec = api.get("/swarm").get("Spec") or {}
            state.update(has_leader=True, epoch=(spec.get("Labels") or {}).get(EPOCH_LABEL, ""))
        except DockerError:
            pass  # no leader: the swarm's own state cannot be read
    state["raft_index"], state["raft_modified"] = raft_state(info.get("DockerRootDir") or "/var/lib/docker")
    return state


def wait_for_leader(api, timeout):
    """The swarm as a manager reports it once the rebuilt swarm has a leader (it answers errors until then)."""
    answer = {}

    def error():
        try:
            answer.update(api.get("/swarm"))
        except DockerError as exc:
            return exc
        return None

    last = wait_for(error, timeout)
    if last:
        raise last
    return answer


def main():
    module = DockyardModule(
        argument_spec=dict(
            force_new_cluster={"type": "bool", "default": False},
            advertise_addr={"type": "str"},
            listen_addr={"type": "str", "default": "0.0.0.0:2377"},
            wait_timeout={"type": "int", "default": 60},
        ),
        supports_check_mode=True,
    )
    params = module.params
    host = module.host
    api = module.api
    try:
        before = read(api)
    except DockerUnreachable:
        # A rebuilt host without an Engine yet holds no swarm state: it joins in the converge that follows.
        before = {"is_manager": False, "has_leader": False, "epoch": "", "raft_index": 0, "raft_modified": 0.0}
    except DockerError as exc:
        module.fail_json(msg=f"Reading the swarm state of {host} failed: {exc}")
    if params["force_new_cluster"] and not before["is_manager"]:
        module.fail_json(msg=f"{host} is not a swarm manager, so the swarm cannot be rebuilt from it. Recover from a "
                             "manager that still holds the swarm's state.", **before)
    recover = params["force_new_cluster"] and not before["has_leader"]
    after = dict(before)
    if recover and not module.check_mode:
        body = {"ForceNewCluster": True, "ListenAddr": params["listen_addr"]}
        if params["advertise_addr"]:
            body["AdvertiseAddr"] = params["advertise_addr"]
        try:
            api.request("POST", "/swarm/init", body=body)
            swarm = wait_for_leader(api, params["wait_timeout"])
            spec = swarm["Spec"]
            epoch = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            spec["Labels"] = dict(spec.get("Labels") or {}, **{EPOCH_LABEL: epoch})
            api.request("POST", "/swarm/update", query={"version": swarm["Version"]["Index"]}, body=spec)
            after = read(api)
        except DockerError as exc:
            module.fail_json(msg=f"Rebuilding the swarm from {host} (swarm init --force-new-cluster) failed: {exc}. "
                                 "Its raft state is unchanged if the init itself failed; see `journalctl -u docker` "
                                 "on the host.")
    differences = Differences()
    differences.add("leader", before["has_leader"], True if recover else before["has_leader"])
    module.exit_json(**differences.report(module, dict(after)))


if __name__ == "__main__":
    main()
