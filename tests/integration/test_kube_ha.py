"""Kubernetes with three control planes (stacked etcd), each host reaching the API servers through its own local
proxy, on lab hosts. Made at the minor version below the pinned one, the cluster keeps working with the control
plane that made it down, `dockyard up` then exits 3 naming it and converges the rest, and the host boots back into
the cluster by itself. `dockyard up` at the pinned version upgrades it one host at a time, each drained in turn,
while the sample page answers every 0.2 s on every host not being drained at that moment."""

import itertools
import json
import subprocess
import threading
import time

import pytest
from conftest import EXAMPLES, address, dockyard, fresh_lab, kube_bundle

from dockyard.collection import state_root

pytestmark = pytest.mark.lab

OLD, NEW = "1.36.3", "1.37.2"
NODES = ["node1", "node2", "node3"]
PAGE = "Hello from a dockyard stack."


def container(node):
    return f"dockyard-kubeha-{node}"


def on_node(node, script, check=True):
    return subprocess.run(["docker", "exec", container(node), "sh", "-c", script], capture_output=True, text=True,
                          check=check).stdout


def kubectl(*args, via="node2"):
    """kubectl on a control plane, with its admin.conf (which names the host's local proxy)."""
    proc = subprocess.run(["docker", "exec", container(via), "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf",
                           *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"kubectl {' '.join(args)} on {via}: {proc.stderr}"
    return proc.stdout


def nodes(via="node2"):
    """Node name -> (kubelet version, Ready status, control plane)."""
    items = json.loads(kubectl("get", "nodes", "-o", "json", via=via))["items"]
    return {n["metadata"]["name"]: (n["status"]["nodeInfo"]["kubeletVersion"],
                                    next(c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"),
                                    "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"])
            for n in items}


def until(what, condition, timeout=240):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(2)


def page(node, host=None):
    """Whether the host (its address, else looked up) answers with the sample page. A request may take up to 3 s:
    on this 2-core machine, with the other test worker's lab busy too, a slow answer is not a failed one."""
    return PAGE in subprocess.run(["curl", "-s", "-m", "3", f"http://{host or address(container(node))}:8080/"],
                                  capture_output=True, text=True, check=False).stdout


@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    """Three bare lab hosts, all three control planes and nodes, made into a cluster at OLD."""
    for version in (OLD, NEW):
        kube_bundle(tmp_path_factory.mktemp("bundle"), version)
    with fresh_lab(tmp_path_factory, "kubeha", managers=3, orchestrator="kubernetes") as inventory_dir:
        hosts = str(inventory_dir / "hosts.yml")
        dockyard("up", "-i", hosts, "-e", f"kubernetes_version={OLD}")
        yield inventory_dir, hosts


def test_three_control_planes_each_reached_through_every_hosts_local_proxy(ha):
    assert nodes() == dict.fromkeys(NODES, (f"v{OLD}", "True", True))
    etcd = json.loads(kubectl("-n", "kube-system", "get", "pods", "-l", "component=etcd", "-o", "json"))["items"]
    assert sorted(pod["spec"]["nodeName"] for pod in etcd) == NODES  # stacked etcd: a member on each
    for node in NODES:
        # Each API server answers, at its own address, and each host's components use its proxy to all three.
        proc = subprocess.run(["curl", "-sk", "-m", "5", f"https://{address(container(node))}:6443/readyz"],
                              capture_output=True, text=True, check=False)
        assert proc.stdout == "ok", node
        assert "server: https://127.0.0.1:6444" in on_node(node, "cat /etc/kubernetes/kube-proxy.conf")
        proxy = on_node(node, "cat /etc/kubernetes/apiserver-proxy.cfg")
        assert all(f"{address(container(n))}:6443" in proxy for n in NODES)
        assert "127.0.0.1:6444" in on_node(node, "ss -ltnH")


def test_with_the_first_control_plane_down_the_cluster_works_and_up_converges_the_rest(ha):
    inventory_dir, hosts = ha
    report = inventory_dir / "down.json"
    subprocess.run(["docker", "stop", container("node1")], check=True, capture_output=True)
    try:
        kubectl("-n", "kube-system", "scale", "deployment", "coredns", "--replicas=3", via="node3")
        until("coredns scaled to 3", lambda: kubectl(
            "-n", "kube-system", "get", "deployment", "coredns", "-o", "jsonpath={.status.readyReplicas}",
            via="node3") == "3")
        kubectl("-n", "kube-system", "scale", "deployment", "coredns", "--replicas=2", via="node3")
        proc = dockyard("up", "-i", hosts, "-e", f"kubernetes_version={OLD}", "--json", str(report), check=False)
        assert proc.returncode == 3, proc.stdout[-3000:]
        assert "node1: UNREACHABLE" in proc.stdout
        stats = json.loads(report.read_text())["hosts"]
        assert stats["node1"]["unreachable"] and not stats["node2"]["failed"] and not stats["node3"]["failed"]
        assert "Initialise the cluster" not in proc.stdout and "Join the cluster" not in proc.stdout
        # The operator's kubeconfig now names a control plane that answers.
        kubeconfig = (state_root() / "kubeconfig").read_text()
        assert f"server: https://{address(container('node2'))}:6443" in kubeconfig
    finally:
        subprocess.run(["docker", "start", container("node1")], check=True, capture_output=True)
    until("node1 Ready again", lambda: nodes()["node1"][1] == "True")
    until("node1's API server", lambda: subprocess.run(
        ["curl", "-sk", "-m", "3", f"https://{address(container('node1'))}:6443/readyz"], capture_output=True,
        text=True, check=False).stdout == "ok")
    assert sorted(json.loads(kubectl("-n", "kube-system", "get", "pods", "-l", "component=etcd", "-o",
                                     "json"))["items"][i]["status"]["phase"] for i in range(3)) == ["Running"] * 3


class Probe:
    """GET the page on every host every 0.2 s from this machine while the `with` block lasts."""

    def __init__(self):
        self.rounds, self.stop = [], threading.Event()
        self.addresses = {node: address(container(node)) for node in NODES}
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def run(self):
        while not self.stop.is_set():
            started = time.time()
            self.rounds.append((started, {node: page(node, self.addresses[node]) for node in NODES}))
            time.sleep(max(0.0, 0.2 - (time.time() - started)))

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def drain_windows(report):
    """Host -> [drain started, uncordoned] from the run's --json report (its tasks name the host)."""
    windows = {}
    for task in json.loads(report.read_text())["tasks"]:
        for node in NODES:
            if task["task"] == f"Drain the host whose turn it is, before it takes the new version - {node}":
                windows[node] = [task["ended"] - task["duration"], None]
            elif task["task"] == f"Let it run pods again - {node}":
                windows[node][1] = task["ended"]
    return windows


def test_a_version_step_kubeadm_cannot_take_is_refused_before_anything_changes(ha):
    _, hosts = ha
    proc = dockyard("up", "-i", hosts, "-e", "kubernetes_version=1.35.2", check=False)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert f"it runs Kubernetes v{OLD} and kubernetes_version is 1.35.2" in proc.stdout
    assert "does not go down a version" in proc.stdout
    assert "Build the pinned Kubernetes bundle" not in proc.stdout  # refused before the bundle, on every host
    assert nodes() == dict.fromkeys(NODES, (f"v{OLD}", "True", True))


def test_the_upgrade_drains_one_host_at_a_time_and_no_request_fails(ha):
    inventory_dir, hosts = ha
    dockyard("deploy", str(EXAMPLES / "web" / "compose.yml"), "-n", "web", "--to", "kubernetes", "-i", hosts)
    until("the page on every host", lambda: all(page(node) for node in NODES), timeout=120)
    report = inventory_dir / "upgrade.json"
    with Probe() as probe:
        proc = dockyard("up", "-i", hosts, "--json", str(report))
        time.sleep(1)
    assert "Say which hosts take kubernetes_version, in turn" in proc.stdout
    windows = drain_windows(report)
    assert list(windows) == NODES  # the control plane that applies it first, one host at a time
    for (_, back), (next_drained, _) in itertools.pairwise(windows.values()):
        assert back < next_drained
    failed = {node: [t for t, answered in probe.rounds if not answered[node]
                     and not windows[node][0] - 0.2 <= t <= windows[node][1] + 0.2] for node in NODES}
    print(f"\nprobe: {len(probe.rounds)} rounds; drain windows {windows}")
    assert len(probe.rounds) > 100 and failed == {node: [] for node in NODES}
    assert nodes() == dict.fromkeys(NODES, (f"v{NEW}", "True", True))
    configuration = kubectl("-n", "kube-system", "get", "configmap", "kubeadm-config", "-o",
                            "jsonpath={.data.ClusterConfiguration}")
    assert f"kubernetesVersion: v{NEW}" in configuration
    images = kubectl("-n", "kube-system", "get", "pods", "-l", "component=kube-apiserver", "-o",
                     "jsonpath={.items[*].spec.containers[0].image}").split()
    assert images == [f"kubernetes/kube-apiserver:v{NEW}"] * 3
    assert all(on_node(node, "kube-proxy --version").split()[-1] == f"v{NEW}" for node in NODES)
    assert not any(json.loads(kubectl("get", "node", node, "-o", "json"))["spec"].get("unschedulable")
                   for node in NODES)
    again = inventory_dir / "again.json"
    dockyard("up", "-i", hosts, "--json", str(again))
    assert {h: s["changed"] for h, s in json.loads(again.read_text())["hosts"].items()} == dict.fromkeys(NODES, 0)
