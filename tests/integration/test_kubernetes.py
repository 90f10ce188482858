"""A Kubernetes cluster from the inventory, on lab hosts: `dockyard lab up --orchestrator kubernetes` and
`dockyard up` make one control plane and two nodes from the pinned bundle, and the cluster itself says it works:
every node Ready at the pinned version, /readyz ok, a pod on one node reaching a Service by its name, served by
pods on the others; a second run changes nothing."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import dockyard, fresh_lab

from dockyard.collection import state_root

pytestmark = pytest.mark.lab

VERSION = "v1.37.2"
NODES = ["node1", "node2", "node3"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with fresh_lab(tmp_path_factory, "kube", orchestrator="kubernetes") as inventory_dir:
        proc = dockyard("up", "-i", str(inventory_dir / "hosts.yml"))
        yield inventory_dir, proc


def kubectl(*args, check=True):
    """The bundle's kubectl with the operator's kubeconfig dockyard keeps."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dockyard" / "bundles"
    (binary,) = sorted(cache.glob(f"kubernetes-{VERSION}-*/bin/kubectl"))[-1:]
    proc = subprocess.run([str(binary), "--kubeconfig", str(state_root() / "kubeconfig"), *args],
                          capture_output=True, text=True, check=False)
    if check and proc.returncode:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def test_up_makes_a_cluster_whose_nodes_are_ready_at_the_pinned_version(cluster):
    _, proc = cluster
    assert "node1" in proc.stdout
    assert oct((state_root() / "kubeconfig").stat().st_mode & 0o777) == "0o600"
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == NODES
    for node in nodes:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", node["metadata"]["name"]
        assert node["status"]["nodeInfo"]["kubeletVersion"] == VERSION
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert kubectl("get", "--raw", "/readyz") == "ok"
    control = [n["metadata"]["name"] for n in nodes
               if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"]]
    assert control == ["node1"]


def test_a_pod_reaches_a_service_by_name_across_nodes(cluster):
    inventory_dir, _ = cluster
    image = "dockyard/busybox:1"  # the lab's busybox, built here: no image is pulled
    subprocess.run(["docker", "build", "-q", "-t", image, str(inventory_dir / "images" / "busybox")], check=True,
                   capture_output=True)
    saved = subprocess.run(["docker", "save", image], check=True, capture_output=True).stdout
    for node in NODES:
        subprocess.run(["docker", "exec", "-i", f"dockyard-kube-{node}", "ctr", "-n", "k8s.io", "images", "import",
                        "-"], input=saved, check=True, capture_output=True)
    bb = "/bin/busybox"  # the image holds busybox alone, no applet links
    serve = f"{bb} echo served-by-$({bb} hostname) > /index.html && exec {bb} httpd -f -p 8080 -h /"
    kubectl("create", "deployment", "web", f"--image=docker.io/{image}", "--replicas=2", "--", bb, "sh", "-c", serve)
    kubectl("patch", "deployment", "web", "--type=json", "-p",
            '[{"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Never"}]')
    kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")
    kubectl("rollout", "status", "deployment/web", "--timeout=120s")
    pods = [p for p in json.loads(kubectl("get", "pods", "-l", "app=web", "-o", "json"))["items"]
            if "deletionTimestamp" not in p["metadata"]]  # the first replica set's, going (the patch made another)
    assert {p["spec"]["nodeName"] for p in pods} <= {"node2", "node3"}  # the control plane takes no workload
    probe = f"{bb} nslookup web.default.svc.cluster.local && for i in 1 2 3 4 5 6; do {bb} wget -qO- http://web/; done"
    kubectl("run", "client", f"--image=docker.io/{image}", "--image-pull-policy=Never", "--restart=Never",
            "--overrides", json.dumps({"spec": {"nodeName": "node2"}}), "--command", "--", bb, "sh", "-c", probe)
    deadline = time.monotonic() + 120
    while kubectl("get", "pod", "client", "-o", "jsonpath={.status.phase}") not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline, kubectl("describe", "pod", "client")
        time.sleep(1)
    out = kubectl("logs", "client")
    service_ip = kubectl("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
    assert service_ip in out, out  # the name resolved by CoreDNS to the Service's address
    served = {line for line in out.splitlines() if line.startswith("served-by-")}
    assert served and served <= {f"served-by-{p['metadata']['name']}" for p in pods}, out


def test_check_mode_and_a_second_run_change_nothing(cluster):
    inventory_dir, _ = cluster
    for mode in (["--check"], []):
        report_file = inventory_dir / f"again{''.join(mode)}.json"
        proc = dockyard("up", "-i", str(inventory_dir / "hosts.yml"), *mode, "--json", str(report_file))
        report = json.loads(report_file.read_text())
        changed = {host: stats["changed"] for host, stats in report["hosts"].items()}
        assert set(changed.values()) == {0}, (mode, changed, proc.stdout[-3000:])
    assert json.loads(kubectl("get", "deployment", "web", "-o", "json"))["status"]["readyReplicas"] == 2
