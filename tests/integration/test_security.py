"""Hardened by default, audited on demand: the CIS defaults on the hosts themselves, `dockyard audit --strict`
on a converged lab with the sample stack, one planted fault per case caught on its host and nowhere else,
`dockyard swarm rotate --tokens` under a running stack, a worker that cannot push to the registry, and the Engine
API over mutual TLS."""

import datetime
import io
import json
import subprocess
import time
import urllib.request

import pytest
from conftest import CONTAINERS, EXAMPLES, address, dockyard, fresh_lab, on_host
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dockyard.runner import run_playbook

pytestmark = pytest.mark.lab
MANAGER, WORKER, OTHER = CONTAINERS


@pytest.fixture(scope="module")
def converged(lab):
    """The lab converged with the role defaults and the sample stack deployed; the stack goes at the end."""
    inventory = str(lab / "hosts.yml")
    dockyard("up", "-i", inventory)
    dockyard("deploy", str(EXAMPLES / "web" / "compose.yml"), "-i", inventory)
    yield {"inventory": inventory, "image": f"{address(MANAGER)}:5000/web:1"}
    dockyard("deploy", str(EXAMPLES / "web" / "compose.yml"), "-i", inventory, "--absent")


def audit(inventory, tmp_path):
    report = tmp_path / f"audit-{time.monotonic_ns()}.json"
    proc = dockyard("audit", "-i", inventory, "--strict", "--json", str(report), check=False)
    assert report.stat().st_mode & 0o777 == 0o600  # it names hosts, users and paths
    return proc, json.loads(report.read_text())


def warnings(report):
    return {(host, c["id"]) for host, checks in report["hosts"].items() for c in checks if c["status"] == "WARN"}


def test_the_cis_defaults_hold_in_containers_on_the_hosts(converged):
    run = ["docker", "run", "--rm", "--entrypoint", "/bin/busybox", converged["image"]]
    assert on_host(WORKER, *run, "grep", "NoNewPrivs", "/proc/self/status").split() == ["NoNewPrivs:", "1"]  # 2.14
    assert on_host(WORKER, *run, "sh", "-c", "ulimit -n") == "16384"  # 2.8
    # 2.2: a container on the default bridge cannot reach another one there.
    server = on_host(WORKER, "docker", "run", "-d", "--memory", "32m", converged["image"])
    try:
        ip = on_host(WORKER, "docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", server)
        reach = subprocess.run(["docker", "exec", WORKER, *run, "timeout", "3", "wget", "-q", "-O", "/dev/null",
                                f"http://{ip}:8080/"], capture_output=True, check=False)
        assert reach.returncode != 0
    finally:
        on_host(WORKER, "docker", "rm", "-f", server)
    # 2.16: no docker-proxy process for the registry's published port.
    assert "docker-proxy" not in on_host(MANAGER, "ps", "-eo", "comm")


def test_audit_strict_passes_on_the_converged_lab_and_gives_every_info_a_reason(converged, tmp_path):
    proc, report = audit(converged["inventory"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(report["hosts"]) == {"node1", "node2", "node3"} and report["unread"] == []
    for host, checks in report["hosts"].items():
        by_id = {c["id"]: c for c in checks}
        assert {c["status"] for c in checks} <= {"PASS", "INFO"}, host
        assert all(c["reason"] for c in checks if c["status"] == "INFO"), host
        for cis in ("2.2", "2.3", "2.5", "2.7", "2.8", "2.14", "2.16", "2.18", "3.8", "3.16", "3.18", "5.4",
                    "5.10", "5.31", "7.1"):
            assert by_id[cis]["status"] == "PASS", (host, by_id[cis])
    manager = {c["id"]: c for c in report["hosts"]["node1"]}
    assert manager["7.3"]["status"] == "PASS" and manager["7.8"]["status"] == "PASS"


SLEEP = ["--entrypoint", "/bin/busybox", "{image}", "sleep", "3600"]
TCP_API_UNIT = "/etc/systemd/system/docker.service.d/zz-cis-plant.conf"
PLANT_TCP_API = (
    "python3 -c \"import json; c = json.load(open('/etc/docker/daemon.json')); c['hosts'] = "
    "['unix:///var/run/docker.sock', 'tcp://127.0.0.1:2375']; json.dump(c, open('/root/cis-plant.json', 'w'))\" && "
    f"mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\nExecStart=\\nExecStart=%s "
    f"--config-file /root/cis-plant.json --containerd=/run/containerd/containerd.sock\\n' \"$(command -v dockerd)\" "
    f"> {TCP_API_UNIT}")
RESTART_DOCKERD = "systemctl daemon-reload && systemctl restart docker"
# The planted dockerd made /var/run/docker.sock itself and removed it when it stopped: docker.socket makes it anew.
RESTART_SOCKET = ("systemctl daemon-reload && systemctl stop docker && systemctl restart docker.socket "
                  "&& systemctl start docker")
PLANTS = {
    # Created, not started: a privileged container cannot start on this machine (its root has no
    # CAP_SYS_RESOURCE to hand on). The audit counts created containers too: `docker start` runs them.
    "privileged container": (WORKER, "5.4", ["docker", "create", "--name", "cis-plant", "--memory", "32m",
                                             "--privileged", *SLEEP], ["docker", "rm", "-f", "cis-plant"]),
    "docker.sock mounted": (OTHER, "5.31", ["docker", "run", "-d", "--name", "cis-plant", "--memory", "32m", "-v",
                                            "/var/run/docker.sock:/var/run/docker.sock", *SLEEP],
                            ["docker", "rm", "-f", "cis-plant"]),
    "daemon.json world-writable": (MANAGER, "3.18", ["chmod", "0666", "/etc/docker/daemon.json"],
                                   ["chmod", "0644", "/etc/docker/daemon.json"]),
    # cp -p keeps the file's time: the engine role does not see a change it would restart dockerd for.
    "icc turned back on by hand": (WORKER, "2.2", ["sh", "-c", "cp -p /etc/docker/daemon.json /root/daemon.json && "
                                                   "sed -i 's/\"icc\": false/\"icc\": true/' /etc/docker/daemon.json"],
                                   ["cp", "-p", "/root/daemon.json", "/etc/docker/daemon.json"]),
    # A TCP API set where the audit does not read (a config file of dockerd's own, not daemon.json): its socket tells.
    "TCP API in another config file": (WORKER, "2.7", ["sh", "-c", f"{PLANT_TCP_API} && {RESTART_DOCKERD}"],
                                       ["sh", "-c", f"rm {TCP_API_UNIT} /root/cis-plant.json && {RESTART_SOCKET}"]),
}


@pytest.mark.parametrize("case", PLANTS)
def test_audit_strict_catches_a_planted_fault_on_its_host_only(converged, tmp_path, case):
    container, cis, plant, undo = PLANTS[case]
    on_host(container, *[arg.format(image=converged["image"]) for arg in plant])
    try:
        proc, report = audit(converged["inventory"], tmp_path)
    finally:
        on_host(container, *undo)
    host = "node" + container[-1]
    assert proc.returncode == 1, proc.stdout
    assert warnings(report) == {(host, cis)}, report
    (row,) = [line for line in proc.stdout.splitlines() if line.startswith(cis + " ") and "WARN" in line]
    assert host in row


def test_rotated_join_tokens_refuse_the_old_token_and_the_stack_keeps_serving(converged):
    old = on_host(MANAGER, "docker", "swarm", "join-token", "-q", "worker")
    dockyard("swarm", "rotate", "--tokens", "-i", converged["inventory"])
    assert on_host(MANAGER, "docker", "swarm", "join-token", "-q", "worker") != old
    on_host(OTHER, "docker", "swarm", "leave")
    try:
        refused = subprocess.run(["docker", "exec", OTHER, "docker", "swarm", "join", "--token", old,
                                  f"{address(MANAGER)}:2377"], capture_output=True, text=True, check=False)
        assert refused.returncode != 0 and "valid join token is necessary" in refused.stderr, refused.stderr
        for container in (MANAGER, WORKER):  # the stack kept serving on the nodes still in the swarm
            assert urllib.request.urlopen(f"http://{address(container)}:8080/", timeout=5).status == 200
    finally:
        dockyard("up", "-i", converged["inventory"], "--tags", "swarm")  # the swarm role joins it with the new token
    assert json.loads(on_host(OTHER, "docker", "info", "--format", "{{json .Swarm.LocalNodeState}}")) == "active"


def test_a_worker_pulls_but_cannot_push_and_the_builder_pushes(converged):
    image = converged["image"]
    repository = image.rsplit(":", 1)[0]
    on_host(WORKER, "docker", "pull", "-q", image)  # the worker's pull-only login pulls
    on_host(WORKER, "docker", "tag", image, f"{repository}:from-a-worker")
    pushed = subprocess.run(["docker", "exec", WORKER, "docker", "push", f"{repository}:from-a-worker"],
                            capture_output=True, text=True, check=False)
    refusal = (pushed.stdout + pushed.stderr).lower()
    assert pushed.returncode != 0 and ("unauthorized" in refusal or "denied" in refusal), refusal
    on_host(MANAGER, "docker", "tag", image, f"{repository}:from-the-builder")
    on_host(MANAGER, "docker", "push", f"{repository}:from-the-builder")  # node1 is the lab's builder
    on_host(OTHER, "docker", "pull", "-q", f"{repository}:from-the-builder")
    missing = subprocess.run(["docker", "exec", OTHER, "docker", "pull", f"{repository}:from-a-worker"],
                             capture_output=True, text=True, check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr, missing.stderr


def client_cert_from_another_ca(directory):
    """A client certificate and key signed by a CA that is not the collection's."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intruder")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))


def test_the_tls_api_answers_only_clients_with_a_certificate_from_the_collections_ca(tmp_path_factory, tmp_path):
    with fresh_lab(tmp_path_factory, "tls", hosts=1) as lab:
        result = run_playbook("engine.yml", str(lab / "hosts.yml"), stream=io.StringIO(),
                              extra_vars=[json.dumps({"engine_tls_api": True,
                                                      "engine_tls_client_dir": str(tmp_path / "client")})])
        assert result.exit_code == 0, result.failures
        host = f"tcp://{address('dockyard-tls-node1')}:2376"
        client = tmp_path / "client"
        ca = ["--tlsverify", "--tlscacert", str(client / "ca.pem"), "-H", host]
        good = subprocess.run(["docker", *ca, "--tlscert", str(client / "cert.pem"), "--tlskey",
                               str(client / "key.pem"), "info", "--format", "{{.Name}}"],
                              capture_output=True, text=True, check=False)
        assert good.returncode == 0 and good.stdout.strip() == "node1", good.stderr
        without = subprocess.run(["docker", *ca, "info"], capture_output=True, text=True, check=False)
        assert without.returncode != 0 and "certificate" in without.stderr.lower(), without.stderr
        (tmp_path / "other").mkdir()
        client_cert_from_another_ca(tmp_path / "other")
        other = subprocess.run(["docker", *ca, "--tlscert", str(tmp_path / "other" / "cert.pem"), "--tlskey",
                                str(tmp_path / "other" / "key.pem"), "info"], capture_output=True, text=True,
                               check=False)
        assert other.returncode != 0 and "certificate" in other.stderr.lower(), other.stderr
        modes = on_host("dockyard-tls-node1", "stat", "-c", "%n %a %U", "/etc/docker/tls/ca.pem",
                        "/etc/docker/tls/server-cert.pem", "/etc/docker/tls/server-key.pem")
        assert modes.splitlines() == ["/etc/docker/tls/ca.pem 444 root", "/etc/docker/tls/server-cert.pem 444 root",
                                      "/etc/docker/tls/server-key.pem 400 root"]
