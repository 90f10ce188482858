#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: swarm_member
short_description: Make this host a Docker Swarm member (init, join or leave), decided from its real state
description:
  - One call per host reads the Engine's swarm state and does what is missing. With O(state=present),
    a host outside any swarm initialises a new swarm when O(join_addrs) is empty, or joins the swarm at
    O(join_addrs) with O(join_token). A host already in the swarm is left as it is (role, labels and
    availability are set from a manager by M(dockyard.fleet.swarm_nodes)). With O(state=absent) it leaves.
  - A manager that is locked (autolock, after its Engine restarted) is unlocked first with one of
    O(unlock_keys). O(state=unlocked) does only that and leaves any other host as it is.
  - On a manager the result carries the join tokens and the manager addresses, so a playbook can read them
    from the cluster instead of keeping them anywhere; run such tasks with C(no_log).
  - Talks to the Engine API through the collection's own client; no Docker SDK or CLI is needed.
version_added: 1.0.0
author: dockyard developers (@dockyard)
options:
  state:
    description: C(present) to be a member, C(absent) to leave the swarm, C(unlocked) only to unlock a locked manager.
    type: str
    choices: [present, absent, unlocked]
    default: present
  role:
    description:
      - Role to join with. Promotion and demotion of existing members are done by M(dockyard.fleet.swarm_nodes).
    type: str
    choices: [manager, worker]
    default: worker
  join_addrs:
    description: Addresses (C(ip:2377)) of managers of the swarm to join; empty initialises a new swarm.
    type: list
    elements: str
    default: []
  join_token:
    description: Token for O(role) read from a manager. Required to join.
    type: str
  cluster_id:
    description: ID of the swarm this host must belong to; a host in another swarm fails instead of being moved.
    type: str
  advertise_addr:
    description: Address other nodes reach this one at (IP or interface, optionally C(:port)).
    type: str
  data_path_addr:
    description: Address for overlay (VXLAN) traffic; defaults to the advertise address.
    type: str
  listen_addr:
    description: Address the swarm manager API listens on.
    type: str
    default: 0.0.0.0:2377
  autolock:
    description:
      - Whether managers lock their raft keys (autolock) - set on init, and changed on an existing swarm when it
        differs. The unlock key is returned with O(return_tokens).
    type: bool
  unlock_keys:
    description: Unlock keys to try, in order, on a locked manager. Never logged.
    type: list
    elements: str
    default: []
  return_tokens:
    description: On a manager, return the join tokens and, with autolock on, the unlock key (run the task with
      C(no_log)).
    type: bool
    default: false
  force:
    description: With O(state=absent), let a manager leave (it may cost the swarm its quorum).
    type: bool
    default: false
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
attributes:
  check_mode:
    support: full
    details: Reports whether the host would init, join or leave, changing nothing.
  diff_mode:
    support: full
    details: The host's swarm state before and after.
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Initialise the swarm on the first manager
  dockyard.fleet.swarm_member:
    role: manager
    advertise_addr: 10.0.0.11
  register: bootstrap

- name: Read the join tokens
  dockyard.fleet.swarm_member:
    role: manager
    return_tokens: true
  register: tokens
  no_log: true

- name: Join a worker
  dockyard.fleet.swarm_member:
    role: worker
    join_addrs: ["10.0.0.11:2377"]
    join_token: "{{ tokens.join_tokens.worker }}"
    advertise_addr: 10.0.0.21
  no_log: true
"""

RETURN = r"""
action:
  description: What was done (or would be, in check mode) - C(init), C(join), C(leave) or C(none).
  returned: always
  type: str
node_id:
  description: This node's ID (empty when not a member).
  returned: always
  type: str
cluster_id:
  description: The swarm's ID, when this node is a manager.
  returned: always
  type: str
is_manager:
  description: Whether this node is a manager now.
  returned: always
  type: bool
join_tokens:
  description: C(manager) and C(worker) join tokens. Secret.
  returned: on managers with O(return_tokens)
  type: dict
manager_addrs:
  description: Addresses of the swarm's managers (C(ip:2377)).
  returned: always
  type: list
  elements: str
unlock_key:
  description: The swarm's unlock key. Secret.
  returned: on managers with O(return_tokens), when autolock is on
  type: str
unlocked:
  description: Whether the manager was locked and is unlocked now (or would be, in check mode).
  returned: always
  type: bool
autolock:
  description: Whether the swarm's managers lock their keys now (or would, in check mode).
  returned: on managers, when O(autolock) is set
  type: bool
"""


from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
    DockerUnreachable,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._module import Differences, DockyardModule

NOT_A_MEMBER = {"local_state": "inactive", "node_id": "", "is_manager": False, "cluster_id": "", "manager_addrs": []}
MEMBER_STATES = ("active", "pending", "locked")


def swarm_state(api, with_tokens=False):
    info = api.info()
    swarm = info.get("Swarm") or {}
    state = {
        "local_state": swarm.get("LocalNodeState") or "inactive",
        "node_id": swarm.get("NodeID") or "",
        "is_manager": bool(swarm.get("ControlAvailable")),
        "cluster_id": ((swarm.get("Cluster") or {}).get("ID")) or "",
        "manager_addrs": sorted(m.get("Addr") for m in swarm.get("RemoteManagers") or [] if m.get("Addr")),
    }
    if state["is_manager"] and with_tokens:
        swarm = api.get("/swarm")
        tokens = swarm.get("JoinTokens") or {}
        state["join_tokens"] = {"manager": tokens.get("Manager"), "worker": tokens.get("Worker")}
        if ((swarm.get("Spec") or {}).get("EncryptionConfig") or {}).get("AutoLockManagers"):
            state["unlock_key"] = api.get("/swarm/unlockkey").get("UnlockKey")
    return state


def unlock(api, keys, host):
    """Unlock a locked manager with the first of ``keys`` that fits; fails naming how many were tried."""
    for key in keys:
        try:
            api.request("POST", "/swarm/unlock", body={"UnlockKey": key})
            return
        except DockerError as exc:
            if exc.status != 400 and "invalid key" not in str(exc).lower():
                raise DockerError(f"unlocking {host} failed: {exc}") from exc
    raise DockerError(f"{host} is a locked swarm manager and none of the {len(keys)} unlock key(s) given fits. "
                      "Unlock it with `docker swarm unlock` and the key kept when autolock was turned on, then run "
                      "again")


def set_autolock(api, wanted, check_mode):
    """Turn autolock on or off on the swarm (from a manager); whether it changes."""
    swarm = api.get("/swarm")
    spec = swarm["Spec"]
    if bool((spec.get("EncryptionConfig") or {}).get("AutoLockManagers")) == wanted:
        return False
    if not check_mode:
        spec["EncryptionConfig"] = dict(spec.get("EncryptionConfig") or {}, AutoLockManagers=wanted)
        api.request("POST", "/swarm/update", query={"version": swarm["Version"]["Index"]}, body=spec)
    return True


def plan(params, state):
    """The action this host needs: init, join, leave or none."""
    member = state["local_state"] in MEMBER_STATES
    if params["state"] == "unlocked":
        return "none"
    if params["state"] == "absent":
        return "leave" if member else "none"
    if member:
        return "none"
    return "join" if params["join_addrs"] else "init"


def main():
    module = DockyardModule(
        argument_spec=dict(
            state={"type": "str", "choices": ["present", "absent", "unlocked"], "default": "present"},
            role={"type": "str", "choices": ["manager", "worker"], "default": "worker"},
            join_addrs={"type": "list", "elements": "str", "default": []},
            join_token={"type": "str", "no_log": True},
            cluster_id={"type": "str"},
            advertise_addr={"type": "str"},
            data_path_addr={"type": "str"},
            listen_addr={"type": "str", "default": "0.0.0.0:2377"},
            autolock={"type": "bool"},
            unlock_keys={"type": "list", "elements": "str", "default": [], "no_log": True},
            return_tokens={"type": "bool", "default": False},
            force={"type": "bool", "default": False},
        ),
        supports_check_mode=True,
    )
    params = module.params
    host = module.host
    api = module.api
    try:
        before = swarm_state(api, params["return_tokens"])
    except DockerUnreachable as exc:
        if not module.check_mode:
            module.fail_json(msg=f"Reading the swarm state of {host} failed: {exc}")
        before = dict(NOT_A_MEMBER)  # check mode before the Engine is installed: it will start outside a swarm
    except DockerError as exc:
        module.fail_json(msg=f"Reading the swarm state of {host} failed: {exc}")

    if (params["state"] == "present" and params["cluster_id"] and before["cluster_id"]
            and before["cluster_id"] != params["cluster_id"]):
        module.fail_json(msg=f"{host} is a manager of another swarm ({before['cluster_id']}), not "
                             f"{params['cluster_id']}. Make it leave that swarm first (docker swarm leave --force) "
                             "if it really belongs to this one.")
    differences = Differences()
    was = before["local_state"]
    unlocked = was == "locked"
    if unlocked and not params["unlock_keys"]:
        module.fail_json(msg=f"{host} is a locked swarm manager and no unlock key was given; unlock it with `docker "
                             "swarm unlock` and the unlock key, then run again.")
    if unlocked and not module.check_mode:
        try:
            unlock(api, params["unlock_keys"], host)
            before = swarm_state(api, params["return_tokens"])
        except DockerError as exc:
            module.fail_json(msg=f"{exc}.")
    action = plan(params, before)
    if action == "join" and not params["join_token"] and not module.check_mode:
        module.fail_json(msg=f"{host} must join the swarm at {', '.join(params['join_addrs'])} but no join token "
                             "was given. Read it from a manager (the swarm role does this).")
    if action == "leave" and before["is_manager"] and not params["force"]:
        module.fail_json(msg=f"{host} is a swarm manager; making it leave can cost the swarm its quorum. Demote it "
                             "first (move it to swarm_workers), or set force to let it leave anyway.")

    result = {"action": action, "unlocked": unlocked}
    if action != "none" and not module.check_mode:
        advertise = {"AdvertiseAddr": params["advertise_addr"], "DataPathAddr": params["data_path_addr"],
                     "ListenAddr": params["listen_addr"]}
        advertise = {key: value for key, value in advertise.items() if value}
        try:
            if action == "init":
                api.request("POST", "/swarm/init", body=dict(advertise, AutoLockManagers=bool(params["autolock"])))
            elif action == "join":
                api.request("POST", "/swarm/join", body=dict(advertise, RemoteAddrs=params["join_addrs"],
                                                             JoinToken=params["join_token"]))
            else:
                api.request("POST", "/swarm/leave", query={"force": "true" if params["force"] else "false"})
        except DockerError as exc:
            module.fail_json(msg=f"Swarm {action} on {host} failed: {exc}. Check that the managers' port 2377/tcp, "
                                 "7946/tcp+udp and 4789/udp are reachable from this host and the advertise "
                                 "address is one of its own.", action=action)
    predicted = ({"present": "active", "absent": "inactive"}[params["state"]] if action != "none"
                 else "active" if unlocked else was)
    differences.add("swarm", was, predicted)
    try:
        # Init's own AutoLockManagers is not the swarm's spec, which a later update would reset: set both.
        manages = before["is_manager"] if action == "none" else action == "init" and not module.check_mode
        if params["autolock"] is not None and manages:
            changed = set_autolock(api, params["autolock"], module.check_mode)
            differences.add("autolock", params["autolock"] != changed, params["autolock"])
            result["autolock"] = params["autolock"]
        after = before if module.check_mode or not differences.changed else swarm_state(api, params["return_tokens"])
    except DockerError as exc:
        module.fail_json(msg=f"Reading or updating the swarm state of {host} after {action} failed: {exc}")
    result.update({key: after[key] for key in ("node_id", "cluster_id", "is_manager", "manager_addrs")})
    for key in ("join_tokens", "unlock_key"):
        if key in after:
            result[key] = after[key]
    module.exit_json(**differences.report(module, result))


if __name__ == "__main__":
    main()
