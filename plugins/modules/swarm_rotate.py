#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: swarm_rotate
short_description: Rotate a swarm's join tokens, unlock key or root CA on a manager
description:
  - Rotates, on a swarm manager, what O(rotate) names - the worker and manager join tokens (a join with an old
    token is refused from then on), the managers' unlock key (autolock; CIS 7.7) or the swarm's root CA (every
    node gets a certificate from the new CA; CIS 7.9). Running services are not touched.
  - A rotation is an action, not a state - every run rotates and reports a change; check mode only says what it
    would rotate.
  - With C(ca), waits until every node that is ready trusts the new root CA.
version_added: 1.1.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
options:
  rotate:
    description: What to rotate.
    type: list
    elements: str
    choices: [tokens, unlock_key, ca]
    required: true
  wait_timeout:
    description: Seconds to wait for every ready node to move to a rotated root CA.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    details: Reports what would be rotated and rotates nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run rotates again; that is its purpose.
"""

EXAMPLES = r"""
- name: New join tokens after a leak (joined nodes stay)
  dockyard.fleet.swarm_rotate:
    rotate: [tokens]
  run_once: true

- name: New unlock key, kept on the control machine
  dockyard.fleet.swarm_rotate:
    rotate: [unlock_key]
  register: rotated
  no_log: true
"""

RETURN = r"""
rotated:
  description: What was (in check mode, would be) rotated.
  returned: always
  type: list
  elements: str
cluster_id:
  description: The swarm's ID.
  returned: always
  type: str
unlock_key:
  description: The new unlock key (register the task with no_log).
  returned: when C(unlock_key) was rotated and autolock is on
  type: str
"""


from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
    wait_for,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule

QUERY = {"tokens": {"rotateWorkerToken": "true", "rotateManagerToken": "true"},
         "unlock_key": {"rotateManagerUnlockKey": "true"}, "ca": {}}


def rotation(swarm, rotate):
    """The /swarm/update query and spec for a rotation of ``rotate`` on a swarm read from GET /swarm."""
    query = {"version": str(swarm["Version"]["Index"])}
    for what in rotate:
        query.update(QUERY[what])
    spec = dict(swarm["Spec"])
    if "ca" in rotate:
        spec["CAConfig"] = dict(spec.get("CAConfig") or {}, ForceRotate=(spec.get("CAConfig") or {}).get(
            "ForceRotate", 0) + 1)
    return query, spec


def nodes_behind(api, trust_root):
    """Ready nodes that do not trust ``trust_root`` yet."""
    return sorted(n["Description"]["Hostname"] for n in api.get("/nodes")
                  if n["Status"]["State"] == "ready"
                  and (n["Description"].get("TLSInfo") or {}).get("TrustRoot") != trust_root)


def main():
    module = DockyardModule(
        argument_spec=dict(rotate={"type": "list", "elements": "str", "required": True, "choices": sorted(QUERY)},
                           wait_timeout={"type": "int", "default": 300}),
        supports_check_mode=True,
    )
    p = module.params
    host = module.host
    api = module.api
    rotate = sorted(set(p["rotate"]))
    try:
        swarm = api.get("/swarm")
    except DockerError as exc:
        module.fail_json(msg=f"Reading the swarm on {host} to rotate {', '.join(rotate)} failed: {exc}. Rotate on "
                             "a manager of a swarm (dockyard swarm rotate picks one).")
    result = {"changed": True, "rotated": rotate, "cluster_id": swarm["ID"]}
    if module.check_mode:
        module.exit_json(**result)
    query, spec = rotation(swarm, rotate)
    try:
        api.request("POST", "/swarm/update", query=query, body=spec)
        if "unlock_key" in rotate and (spec.get("EncryptionConfig") or {}).get("AutoLockManagers"):
            result["unlock_key"] = api.get("/swarm/unlockkey")["UnlockKey"]
        if "ca" in rotate:
            old = swarm["TLSInfo"]["TrustRoot"]
            stuck = wait_for(lambda: api.get("/swarm")["TLSInfo"]["TrustRoot"] == old, p["wait_timeout"], 2)
            behind = [] if stuck else wait_for(
                lambda: nodes_behind(api, api.get("/swarm")["TLSInfo"]["TrustRoot"]), p["wait_timeout"], 2)
            if stuck or behind:
                module.fail_json(msg=f"The swarm's root CA rotation started on {host} but did not finish within "
                                     f"{p['wait_timeout']}s (nodes not on the new CA yet: "
                                     f"{', '.join(behind) or 'all'}). Docker goes on rotating; bring those nodes "
                                     "up, then run again.", **result)
    except DockerError as exc:
        module.fail_json(msg=f"Rotating the swarm's {', '.join(rotate)} on {host} failed: {exc}. Nothing is "
                             "half-rotated: run again.", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
