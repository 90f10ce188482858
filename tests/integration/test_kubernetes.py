"""A Kubernetes cluster from the inventory, on lab hosts: `dockyard lab up --orchestrator kubernetes` and
`dockyard up` make one control plane and two nodes from the pinned bundle, and the cluster itself says it works:
every node Ready at the pinned version, /readyz ok, a pod on one node reaching a Service by its name, served by
pods on the others; a second run changes nothing; `dockyard status` shows the cluster; `dockyard reset` leaves the
hosts bare. The sample compose stack deploys to it from the lab's registry (`dockyard deploy --to kubernetes`)."""

import base64
import hashlib
import json
import secrets
import shutil
import subprocess
import time

import pytest
import yaml
from conftest import BUNDLES, EXAMPLES, address, dockyard, fresh_lab, killed_at, kube_bundle

from dockyard.collection import state_root

pytestmark = pytest.mark.lab

VERSION = "v1.37.2"
NODES = ["node1", "node2", "node3"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The cluster made on bare lab hosts by a run killed during the bundle's copy, a run killed during the nodes'
    join, and a run that converges; the last run, and the output of the two killed."""
    kube_bundle(tmp_path_factory.mktemp("bundle"), VERSION.removeprefix("v"))
    with fresh_lab(tmp_path_factory, "kube", orchestrator="kubernetes") as inventory_dir:
        up = ["up", "-i", str(inventory_dir / "hosts.yml")]
        killed = [killed_at(up, "kubernetes : Check the host's copies against", delay=3),
                  killed_at(up, "kubernetes : Make a join command", delay=1)]
        proc = dockyard(*up)
        yield inventory_dir, proc, killed


def kubectl_binary():
    """The kubectl of the bundle the cluster was built from, on the control machine."""
    (binary,) = sorted(BUNDLES.glob(f"kubernetes-{VERSION}-*/bin/kubectl"))[-1:]
    return binary


def kubectl(*args, check=True):
    """The bundle's kubectl with the operator's kubeconfig dockyard keeps."""
    proc = subprocess.run([str(kubectl_binary()), "--kubeconfig", str(state_root() / "kubeconfig"), *args],
                          capture_output=True, text=True, check=False)
    if check and proc.returncode:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def test_up_makes_a_cluster_whose_nodes_are_ready_at_the_pinned_version(cluster):
    _, proc, killed = cluster
    # The runs before were killed while the hosts copied the bundle, then while the nodes joined.
    assert "Copy what the host does not have" not in killed[0]
    assert "Initialise the cluster" in killed[1] and "Join the cluster" not in killed[1]
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
    # node1 is in kube_nodes too: it runs pods, without kubeadm's NoSchedule taint.
    assert [n["metadata"]["name"] for n in nodes if n["spec"].get("taints")] == []


def test_a_pod_reaches_a_service_by_name_across_nodes(cluster):
    inventory_dir, *_ = cluster
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
    # CoreDNS learns of the new Service from the API server within seconds (NXDOMAIN until then): asked until then.
    probe = (f"n=0; until {bb} nslookup web.default.svc.cluster.local; do n=$((n+1)); [ $n -lt 30 ] || exit 1; "
             f"{bb} sleep 1; done; for i in 1 2 3 4 5 6; do {bb} wget -qO- http://web/; done")
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
    node_of = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}
    assert {node_of[line[len("served-by-"):]] for line in served} - {"node2"}, out  # served from another node


class Stack:
    """The sample stack deployed to the cluster from a copy whose api has a planted secret, and every report and
    output of its deploys."""

    def __init__(self, inventory_dir, work):
        shutil.copytree(EXAMPLES / "web", work / "web")
        self.work, self.inventory = work, str(inventory_dir / "hosts.yml")
        self.compose_file = work / "web" / "compose.yml"
        self.planted = "planted-" + secrets.token_hex(12)
        compose = self.compose()
        compose["services"]["api"]["secrets"] = ["token"]
        compose["secrets"] = {"token": {"content": self.planted}}
        self.write(compose)
        self.reports, self.outputs, self.started = [], [], time.time()

    def compose(self):
        return yaml.safe_load(self.compose_file.read_text())

    def write(self, compose):
        self.compose_file.write_text(yaml.safe_dump(compose))

    def deploy(self, *mode, check=True):
        """`dockyard deploy --to kubernetes` with these options: how many changed, and the run."""
        self.reports.append(self.work / f"deploy-{len(self.reports)}.json")
        proc = dockyard("deploy", str(self.compose_file), "-n", "web", "--to", "kubernetes", "-i", self.inventory,
                        "--json", str(self.reports[-1]), *mode, check=check)
        self.outputs.append(proc)
        return json.loads(self.reports[-1].read_text())["hosts"]["node1"]["changed"], proc


@pytest.fixture(scope="module")
def web(cluster, tmp_path_factory):
    inventory_dir, *_ = cluster
    stack = Stack(inventory_dir, tmp_path_factory.mktemp("web"))
    stack.first = stack.deploy()[0]
    return stack


def workloads():
    items = json.loads(kubectl("-n", "web", "get", "deployments,daemonsets", "-o", "json"))["items"]
    return {item["metadata"]["name"]: (item["metadata"]["generation"], item["spec"].get("replicas"))
            for item in items}


def running(name):
    """The stack's running pods of one service: {uid: image}."""
    pods = json.loads(kubectl("-n", "web", "get", "pods", "-l", f"app.kubernetes.io/name={name}",
                              "--field-selector=status.phase=Running", "-o", "json"))["items"]
    return {pod["metadata"]["uid"]: pod["spec"]["containers"][0]["image"] for pod in pods
            if "deletionTimestamp" not in pod["metadata"]}


def test_the_sample_stack_is_served_from_the_registrys_images_and_changes_only_what_changed(web):
    assert web.first > 0
    # Every host serves the page on its host port: web is global (its pods tolerate a control plane's taint too).
    for node in NODES:
        reply = subprocess.run(["curl", "-s", "-m", "5", f"http://{address(f'dockyard-kube-{node}')}:8080/"],
                               capture_output=True, text=True, check=False).stdout
        assert "Hello from a dockyard stack." in reply, node
    api = json.loads(kubectl("-n", "web", "get", "pods", "-l", "app.kubernetes.io/name=api", "-o", "json"))["items"]
    assert len({pod["spec"]["nodeName"] for pod in api}) == 2  # max_replicas_per_node: 1
    registry = f"{address('dockyard-kube-node3')}:5000/web:1"  # pulled from the lab's registry, with its login
    assert {pod["spec"]["containers"][0]["image"] for pod in api} == {registry}
    assert web.deploy()[0] == 0
    before = workloads()
    assert before["api"][1] == 2

    compose = web.compose()
    compose["services"]["api"]["deploy"]["replicas"] = 1
    web.write(compose)
    assert web.deploy("--check", "--diff")[0] == 1
    assert workloads() == before  # the API server's dry run changed nothing
    assert web.deploy()[0] == 1
    after = workloads()
    assert after["api"] == (before["api"][0] + 1, 1)
    assert after["web"] == before["web"]  # exactly that change


def test_a_rollout_that_does_not_come_up_is_rolled_back_and_the_service_keeps_running(web):
    before = running("api")
    assert before and set(before.values()) == {f"{address('dockyard-kube-node3')}:5000/web:1"}
    good = web.compose()
    broken = web.compose()
    broken["services"]["api"]["image"] = "${DOCKYARD_REGISTRY}/web:absent"  # never built: pulls fail
    web.write(broken)
    try:
        _, proc = web.deploy("-e", "stack_wait_timeout=20", check=False)
    finally:
        web.write(good)
    assert proc.returncode != 0
    assert "Deployment api did not roll out within 20 s" in proc.stdout, proc.stdout[-3000:]
    assert "rolled back to its previous version" in proc.stdout and "describe deployment api" in proc.stdout
    # One replica at a time was stopped for the new version, as on the swarm (no update_config): the others ran
    # throughout, and the rollback brought the stopped one back at the old version.
    after = running("api")
    assert len(after) == len(before) and set(after.values()) == set(before.values())
    assert len(set(after) & set(before)) >= len(before) - 1
    api = json.loads(kubectl("-n", "web", "get", "deployment", "api", "-o", "json"))
    assert api["spec"]["template"]["spec"]["containers"][0]["image"].endswith("/web:1")
    assert api["status"].get("readyReplicas") == api["spec"]["replicas"] == len(before)
    assert api["status"].get("unavailableReplicas") is None  # the broken replica set was scaled to nothing
    # The good file again: api's fields go back to dockyard's field manager from the rollback's patch.
    assert web.deploy()[0] == 1


def test_the_planted_secret_is_in_no_journal_log_report_or_output(web):
    token = json.loads(kubectl("-n", "web", "get", "secret", "token", "-o", "json"))["data"]["token"]
    assert base64.b64decode(token).decode() == web.planted  # the secret reached the cluster
    pull = json.loads(base64.b64decode(json.loads(kubectl("-n", "web", "get", "secret", "registry-pull", "-o",
                                                          "json"))["data"][".dockerconfigjson"]))
    (login,) = pull["auths"].values()
    markers = {"planted": web.planted, "pull password": login["password"]}
    places = {f"{node} journal": on_node(node, "journalctl --no-pager -o cat") for node in NODES}
    places.update({str(log): log.read_text(errors="replace") for log in (state_root() / "logs").glob("*.log")
                   if log.stat().st_mtime >= web.started})
    places.update({str(report): report.read_text() for report in web.reports})
    places.update({f"output {index}": proc.stdout + proc.stderr for index, proc in enumerate(web.outputs)})
    assert len(places) > len(NODES) + 3
    hits = [f"{name} in {place}" for name, value in markers.items() for place, text in places.items()
            if value in text]
    assert hits == []


def test_what_the_stack_no_longer_has_is_removed_and_nothing_else(web):
    compose = web.compose()
    del compose["services"]["api"]["secrets"], compose["secrets"]
    web.write(compose)
    before = workloads()
    assert web.deploy()[0] == 2  # the Secret gone, and api without it
    assert kubectl("-n", "web", "get", "secret", "token", check=False) == ""
    assert kubectl("-n", "web", "get", "secret", "registry-pull", "-o", "name") == "secret/registry-pull\n"
    after = workloads()
    assert after["api"][0] == before["api"][0] + 1 and after["web"] == before["web"]


def test_check_mode_and_a_second_run_change_nothing_and_a_changed_copy_is_put_back(cluster):
    inventory_dir, *_ = cluster

    def up(*mode):
        report_file = inventory_dir / f"again{''.join(mode)}.json"
        proc = dockyard("up", "-i", str(inventory_dir / "hosts.yml"), *mode, "--json", str(report_file))
        return {host: stats["changed"] for host, stats in json.loads(report_file.read_text())["hosts"].items()}, proc

    for mode in (["--check"], []):
        changed, proc = up(*mode)
        assert set(changed.values()) == {0}, (mode, changed, proc.stdout[-3000:])
    assert json.loads(kubectl("get", "deployment", "web", "-o", "json"))["status"]["readyReplicas"] == 2

    # A copy on a host changed since it was verified (other bytes, a new mtime) is found and put back.
    node3 = ["docker", "exec", "dockyard-kube-node3", "sh", "-c"]
    subprocess.run([*node3, "printf X | dd of=/usr/local/bin/kubectl bs=1 seek=1000 conv=notrunc status=none"],
                   check=True)
    assert up("--check")[0] == {"node1": 0, "node2": 0, "node3": 1}
    assert up()[0] == {"node1": 0, "node2": 0, "node3": 1}
    on_host = subprocess.run([*node3, "sha256sum /usr/local/bin/kubectl"], capture_output=True, text=True,
                             check=True).stdout.split()[0]
    assert on_host == hashlib.sha256(kubectl_binary().read_bytes()).hexdigest()


def page(node):
    return subprocess.run(["curl", "-s", "-m", "3", f"http://{address(f'dockyard-kube-{node}')}:8080/"],
                          capture_output=True, text=True, check=False).stdout


def until(what, condition, timeout=180):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(2)


def test_a_node_down_is_named_its_pods_start_elsewhere_and_it_comes_back_by_itself(cluster, web):
    inventory_dir, *_ = cluster
    report = inventory_dir / "down.json"
    hosts = str(inventory_dir / "hosts.yml")

    def api_nodes():
        pods = json.loads(kubectl("-n", "web", "get", "pods", "-l", "app.kubernetes.io/name=api", "-o", "json"))
        return sorted(p["spec"].get("nodeName", "") for p in pods["items"]
                      if p["status"].get("phase") == "Running" and "deletionTimestamp" not in p["metadata"])

    kubectl("-n", "web", "scale", "deployment", "api", "--replicas=2")
    until("two api pods", lambda: len(api_nodes()) == 2)
    # A node (not the control plane) that runs one of api's pods goes down: node2 if it can, which leaves the
    # registry's host up, else node3 (the pods' image is on every node already: web runs it everywhere).
    down = next(n for n in ("node2", "node3") if n in api_nodes())
    up_nodes = [n for n in NODES if n != down]
    subprocess.run(["docker", "stop", f"dockyard-kube-{down}"], check=True, capture_output=True)
    try:
        proc = dockyard("up", "-i", hosts, "--json", str(report), check=False)
        assert proc.returncode == 3, proc.stdout[-3000:]
        assert f"{down}: UNREACHABLE" in proc.stdout
        stats = json.loads(report.read_text())["hosts"]
        assert stats[down]["unreachable"] and not any(stats[n]["failed"] for n in up_nodes)
        assert {n: stats[n]["changed"] for n in up_nodes} == dict.fromkeys(up_nodes, 0)
        # Its api pod starts on the other node (kubernetes_pod_eviction_timeout: 30 s in the lab), one per node.
        until("api's pods on the nodes that run", lambda: api_nodes() == up_nodes)
        for node in up_nodes:
            assert "Hello from a dockyard stack." in page(node), node
    finally:
        subprocess.run(["docker", "start", f"dockyard-kube-{down}"], check=True, capture_output=True)
    # The host boots back into the cluster by itself: its kubelet, kube-proxy and pod routes start at boot.
    until(f"{down} Ready", lambda: "True" in kubectl(
        "get", "node", down, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False))
    until(f"the page on {down}", lambda: "Hello from a dockyard stack." in page(down))
    routes = on_node(down, "ip -4 route show root 10.244.0.0/16")
    assert routes.count(" via ") == 2, routes  # to the other two nodes' pods
    dockyard("up", "-i", hosts, "--json", str(report))
    assert {host: s["changed"] for host, s in json.loads(report.read_text())["hosts"].items()} == dict.fromkeys(
        NODES, 0)  # nothing left to put back


def status(inventory_dir):
    """`dockyard status`, and its rows by their first word (a host) and as a list (workloads)."""
    proc = dockyard("status", "-i", str(inventory_dir / "hosts.yml"), check=False)
    lines = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    return proc, {line[0]: line for line in lines}, lines


def test_status_shows_the_nodes_the_workloads_and_the_version_and_a_stopped_kubelet(cluster):
    inventory_dir, *_ = cluster
    proc, rows, lines = status(inventory_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Kubernetes {VERSION}" in proc.stdout
    assert rows["node1"] == ["node1", "yes", "active", "control-plane", "yes", VERSION]
    assert rows["node3"] == ["node3", "yes", "active", "node", "yes", VERSION]
    assert ["default", "Deployment", "web", "2/2"] in lines
    assert ["kube-system", "Deployment", "coredns", "2/2"] in lines
    subprocess.run(["docker", "exec", "dockyard-kube-node3", "systemctl", "stop", "kubelet"], check=True)
    try:
        proc, rows, _ = status(inventory_dir)
        assert proc.returncode == 1, proc.stdout  # unhealthy: a kubelet is not running
        assert rows["node3"][:3] == ["node3", "yes", "inactive"]
    finally:
        subprocess.run(["docker", "exec", "dockyard-kube-node3", "systemctl", "start", "kubelet"], check=True)


def on_node(node, script):
    return subprocess.run(["docker", "exec", f"dockyard-kube-{node}", "sh", "-c", script], capture_output=True,
                          text=True, check=True).stdout


def test_reset_takes_every_host_back_to_bare(cluster):
    inventory_dir, *_ = cluster
    hosts = str(inventory_dir / "hosts.yml")
    predicted = dockyard("reset", "-i", hosts, "--check")
    assert "/etc/kubernetes" in predicted.stdout
    assert on_node("node1", "test -f /etc/kubernetes/admin.conf && echo kept").strip() == "kept"  # check changed none
    dockyard("reset", "-i", hosts, "--yes")
    for node in NODES:
        left = on_node(node, """
            for path in /etc/kubernetes /var/lib/etcd /usr/local/bin/kubelet /usr/local/bin/kubeadm \
                        /etc/cni/net.d/10-dockyard.conflist /etc/systemd/system/kubelet.service \
                        /usr/local/sbin/dockyard-pod-network /etc/systemd/system/dockyard-pod-network.service \
                        /etc/systemd/system/multi-user.target.wants/dockyard-pod-network.service \
                        /etc/systemd/system/dockyard-apiserver-proxy.service; do
              [ -e "$path" ] && echo "file $path"
            done
            ls -A /var/lib/kubelet | sed 's/^/kubelet state /'  # a mount point of its own on lab hosts: it stays
            pgrep -l 'kube|etcd' | sed 's/^/process /'
            ss -ltnH 'sport = :6444' | sed 's/^/listener /'  # the local proxy to the API servers
            ctr -n k8s.io containers ls -q | sed 's/^/container /'
            ctr -n k8s.io images ls -q | sed 's/^/image /'
            ip -4 route show root 10.244.0.0/16 | sed 's/^/route /'
            ip link show cni0 >/dev/null 2>&1 && echo 'link cni0'
            iptables-save | grep -o 'KUBE-[A-Z-]*' | sort -u | sed 's/^/chain /'
            true""")
        assert left == "", f"{node} keeps:\n{left}"
    assert not (state_root() / "kubeconfig").exists()  # no control plane left: the cluster is gone
    report_file = inventory_dir / "reset-again.json"
    dockyard("reset", "-i", hosts, "--yes", "--json", str(report_file))
    again = json.loads(report_file.read_text())["hosts"]
    assert {host: stats["changed"] for host, stats in again.items()} == dict.fromkeys(NODES, 0)
