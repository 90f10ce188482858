"""The stack role's reading of a kubernetes.core k8s result with continue_on_error: the workloads that failed, and
which of them to roll back."""

from ansible_collections.dockyard.fleet.plugins.filter.kubernetes_failed import kubernetes_failed


def obj(kind, name, status=None, replicas=2, generation=2):
    found = {"kind": kind, "metadata": {"name": name, "namespace": "web", "generation": generation},
             "spec": {"replicas": replicas} if kind == "Deployment" else {}}
    if status is not None:
        found["status"] = dict({"observedGeneration": generation}, **status)
    return found


def timed_out(live, changed):
    # What kubernetes.core's runner keeps for an object with continue_on_error: its own result with the error.
    return {"changed": False, "result": {}, "error": {
        "changed": changed, "method": "apply", "result": live,
        "msg": f'"{live["kind"]}" "{live["metadata"]["name"]}": Timed out waiting on resource'}}


def test_a_changed_workload_or_one_whose_rollout_had_not_finished_is_rolled_back_one_short_of_a_node_is_not():
    workloads = [obj("Deployment", "api"), obj("DaemonSet", "web"), obj("Deployment", "worker"),
                 obj("DaemonSet", "agent"), obj("Deployment", "cache")]
    applied = {"changed": True, "result": {"results": [
        timed_out(obj("Deployment", "api", {"updatedReplicas": 1, "readyReplicas": 2}), True),
        {"changed": False, "result": obj("DaemonSet", "web", {})},
        # unchanged now, but pods of an older version still run: a run before this one left it half-way
        timed_out(obj("Deployment", "worker", {"updatedReplicas": 1, "readyReplicas": 2}), False),
        # every pod at the current version, one not ready: a node is down
        timed_out(obj("DaemonSet", "agent", {"updatedNumberScheduled": 3, "desiredNumberScheduled": 3,
                                             "numberReady": 2}), False),
        # the controller has not seen the new generation yet
        timed_out(obj("Deployment", "cache", {"observedGeneration": 1, "updatedReplicas": 2}), False)]}}
    failed = {entry["name"]: entry for entry in kubernetes_failed(applied, workloads)}
    assert sorted(failed) == ["agent", "api", "cache", "worker"]
    assert {name: entry["roll_back"] for name, entry in failed.items()} == {
        "api": True, "worker": True, "agent": False, "cache": True}
    assert failed["api"]["why"] == "1 of 2 pods at its new version, 2 ready"
    assert failed["agent"]["why"] == "3 of 3 pods at its new version, 2 ready"
    assert failed["api"]["kind"] == "Deployment" and failed["agent"]["kind"] == "DaemonSet"


def test_one_definition_has_its_result_at_the_top_an_apply_error_its_message_and_a_skipped_task_none():
    workloads = [obj("Deployment", "api")]
    (only,) = kubernetes_failed(timed_out(obj("Deployment", "api", {"updatedReplicas": 0}), True), workloads)
    assert only["name"] == "api" and only["roll_back"]
    refused = {"changed": False, "result": {}, "error": {"msg": "Failed to apply object: Deployment.apps is invalid"}}
    assert kubernetes_failed(refused, workloads) == [
        {"kind": "Deployment", "name": "api", "changed": False, "unfinished": False, "roll_back": False,
         "why": "Failed to apply object: Deployment.apps is invalid"}]
    assert kubernetes_failed({"changed": True, "result": obj("Deployment", "api", {})}, workloads) == []
    assert kubernetes_failed({"changed": False, "skipped": True}, []) == []
