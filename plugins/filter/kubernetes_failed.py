# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stack role's list of workloads that did not roll out on Kubernetes, to roll back and report."""

DOCUMENTATION = r"""
name: kubernetes_failed
short_description: The objects a kubernetes.core.k8s call with continue_on_error could not apply or wait for
version_added: 1.0.0
author: dockyard developers (@dockyard)
description:
  - M(kubernetes.core.k8s) with C(continue_on_error) reports each object's error in its own result, in the order of
    its definitions (and one object's result at the top of the task's result); this pairs them, and says of each
    workload whether it should be rolled back.
  - A workload is rolled back when this call changed it, or when its rollout had not finished (pods of an older
    version still run, as when a run before this one changed it and was stopped or failed). One that finished
    rolling out but is short of ready pods (a node down) is not taken back to an older version.
options:
  _input:
    description: The registered result of the M(kubernetes.core.k8s) task.
    type: dict
    required: true
  definitions:
    description: The definitions the task applied, in their order.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Roll back each workload that changed and did not roll out
  kubernetes.core.k8s_rollback:
    kind: "{{ item.kind }}"
    name: "{{ item.name }}"
    namespace: web
  loop: "{{ applied | dockyard.fleet.kubernetes_failed(workloads) | selectattr('roll_back') }}"
"""

RETURN = r"""
_value:
  description:
    - One C(kind), C(name), C(changed) (whether this call changed the object before it failed), C(unfinished)
      (whether pods of an older version still run), C(roll_back) (either) and C(why) (how far its rollout got, else
      the API server's error) per failed object. Empty when nothing failed, and in check mode (which does not wait).
  type: list
  elements: dict
"""


def rollout(obj):
    """How far a Deployment's or DaemonSet's rollout got: (pods at its current version, pods wanted, pods ready)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if obj.get("kind") == "DaemonSet":
        return (status.get("updatedNumberScheduled", 0), status.get("desiredNumberScheduled", 0),
                status.get("numberReady", 0))
    return status.get("updatedReplicas", 0), spec.get("replicas", 1), status.get("readyReplicas", 0)


def kubernetes_failed(result, definitions):
    inner = result.get("result") or {}
    results = inner["results"] if len(definitions) != 1 and "results" in inner else [result]
    failed = []
    for definition, outcome in zip(definitions, results):
        if "error" not in outcome:
            continue
        error, live = outcome["error"], outcome["error"].get("result") or {}
        entry = {"kind": definition["kind"], "name": definition["metadata"]["name"],
                 "changed": bool(error.get("changed")), "unfinished": False, "why": error.get("msg", "")}
        if live.get("status") is not None:
            updated, wanted, ready = rollout(live)
            stale = live["status"].get("observedGeneration", 0) < live["metadata"].get("generation", 0)
            entry["unfinished"] = stale or updated < wanted
            entry["why"] = f"{updated} of {wanted} pods at its new version, {ready} ready"
        entry["roll_back"] = entry["changed"] or entry["unfinished"]
        failed.append(entry)
    return failed


class FilterModule:
    def filters(self):
        return {"kubernetes_failed": kubernetes_failed}
