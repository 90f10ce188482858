"""A bad day on a 3-manager lab serving the sample stack: runs killed at any point, a manager that left, a dead
host, lost quorum and its recovery, hosts added and removed, Ctrl-C, and a data-root move killed half-way.
Every assertion reads the hosts themselves.

The tests run in file order on the file's own lab ("faults"), which starts bare.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import conftest
import pytest
import yaml
from conftest import EXAMPLES, address, dockyard, fresh_lab, on_host

from dockyard.lab import lab_containers, remove_container

pytestmark = pytest.mark.lab

LAB = "faults"
NODES = ["node1", "node2", "node3"]
STACKS = json.dumps({"stacks": [{"name": "web", "compose_file": str(EXAMPLES / "web" / "compose.yml")}]})
# A daemon setting the kill test changes; every run after it keeps it, so no run restarts the Engines by the way.
DEBUG = json.dumps({"engine_daemon_config": {"debug": True}})
PAGE = "Hello from a dockyard stack."
HOLD_PACKAGE_LOCK = ("import fcntl, time; lock = open('/var/lib/dpkg/lock-frontend', 'a'); "
                     "fcntl.lockf(lock, fcntl.LOCK_EX); time.sleep(20)")


def host(name):
    return f"dockyard-{LAB}-{name}"


@pytest.fixture(scope="module")
def faults_lab(tmp_path_factory):
    with fresh_lab(tmp_path_factory, LAB, hosts=3, managers=3) as inventory_dir:
        yield inventory_dir


@pytest.fixture(scope="module")
def inventory(faults_lab):
    return str(faults_lab / "hosts.yml")


def lab_up(faults_lab, hosts=3):
    dockyard("lab", "up", "--hosts", str(hosts), "--managers", "3", "--name", LAB, "--inventory-dir", str(faults_lab))


def up(inventory, *args, check=True, debug=True, tasks=None):
    """`dockyard up` with the sample stack; (process, per-host stats from its --json report). A list given as
    ``tasks`` gets the report's tasks."""
    report = f"/tmp/dockyard-faults-{os.getpid()}.json"
    settings = ["-e", DEBUG] if debug else []
    proc = dockyard("up", "-i", inventory, "-e", STACKS, *settings, "--json", report, *args, check=check)
    with open(report, encoding="utf-8") as handle:
        data = json.load(handle)
    os.unlink(report)
    if tasks is not None:
        tasks.extend(data["tasks"])
    return proc, data["hosts"]


def changed(hosts):
    return {name: stats["changed"] for name, stats in hosts.items() if stats["changed"]}


def killed_at(inventory, markers, *args, delay=0.0):
    """`dockyard up` with the sample stack, killed as conftest.killed_at says."""
    return conftest.killed_at(["up", "-i", inventory, "-e", STACKS, *args], markers, delay=delay)


def http(name, port=8080):
    proc = subprocess.run(["curl", "-s", "-m", "5", f"http://{address(host(name))}:{port}/"], capture_output=True,
                          text=True, check=False)
    return proc.stdout


def registry_tags(image="web"):
    """The tags the lab registry on node1 holds, asked over HTTPS with its CA and node1's login (a token from the
    registry's token server first), from node1 itself."""
    login = on_host(host("node1"), "sh", "-c", "python3 -c \"import json,base64; a=json.load(open("
                    "'/root/.docker/config.json'))['auths']; print(base64.b64decode(list(a.values())[0]['auth'])"
                    ".decode())\"")
    ip = address(host("node1"))
    ca = ["--cacert", f"/etc/docker/certs.d/{ip}:5000/ca.crt"]
    token = json.loads(on_host(host("node1"), "curl", "-s", *ca, "-u", login,
                               f"https://{ip}:5001/token?service={ip}:5000&scope=repository:{image}:pull"))["token"]
    out = on_host(host("node1"), "curl", "-s", *ca, "-H", f"Authorization: Bearer {token}",
                  f"https://{ip}:5000/v2/{image}/tags/list")
    return sorted(json.loads(out)["tags"])


def serving(nodes=NODES):
    for name in nodes:
        for _ in range(30):
            if PAGE in http(name):
                break
            time.sleep(1)
        else:
            raise AssertionError(f"{name} does not serve the stack's page")


def nodes(manager="node1"):
    """`docker node ls` on a manager: hostname -> list of (status, manager status), one per node object."""
    rows = on_host(host(manager), "docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}")
    result = {}
    for line in rows.splitlines():
        name, status, *manager_status = line.split()
        result.setdefault(name, []).append((status, manager_status[0] if manager_status else ""))
    return result


def one_swarm_of_three_ready_managers(manager="node1"):
    """One node object per host, all Ready, one Leader and two Reachable (the leader may have moved in a roll)."""
    rows = nodes(manager)
    assert sorted(rows) == NODES and all(len(objects) == 1 for objects in rows.values()), rows
    assert sorted(objects[0] for objects in rows.values()) == [("Ready", "Leader"), ("Ready", "Reachable"),
                                                                ("Ready", "Reachable")], rows
    return True


def cluster_ids(names=NODES):
    return {name: on_host(host(name), "docker", "info", "--format", "{{.Swarm.Cluster.ID}}") for name in names}


def plant_volume(name="node2"):
    on_host(host(name), "sh", "-c", "docker volume create planted >/dev/null && echo kept > "
                                    "$(docker volume inspect planted --format '{{.Mountpoint}}')/marker")


def planted(name="node2"):
    return on_host(host(name), "sh", "-c", "cat $(docker volume inspect planted --format '{{.Mountpoint}}')/marker")


def test_a_run_killed_at_any_point_converges_on_the_next(inventory, tmp_path):
    # 1. During the Engine install on bare hosts. A host may still be installing (the kill stops Ansible here, not
    # the host's apt-get): every host's package lock is held for a while, as that apt-get holds it, and the next
    # run waits for it instead of failing.
    killed_at(inventory, "engine : Write daemon.json", delay=3)
    for name in NODES:
        subprocess.run(["docker", "exec", "-d", host(name), "python3", "-c", HOLD_PACKAGE_LOCK], check=True)
    up(inventory, debug=False)
    serving()
    plant_volume()
    tags = registry_tags()
    assert "1" in tags

    # 2. After daemon.json was written, before dockerd restarted: the next run restarts it.
    # Swarm nodes take the change in turn: node1 first, drained, then its daemon.json is written.
    killed_at(inventory, ["Drain this node", "changed     engine : Write daemon.json"], "-e", DEBUG)
    assert '"debug": true' in on_host(host("node1"), "cat", "/etc/docker/daemon.json")
    assert on_host(host("node1"), "docker", "info", "--format", "{{.Debug}}") == "false"  # not restarted yet
    up(inventory)
    assert all(on_host(host(n), "docker", "info", "--format", "{{.Debug}}") == "true" for n in NODES)

    # 3. During the registry's start.
    on_host(host("node1"), "docker", "rm", "-f", "registry")
    killed_at(inventory, "registry : Build the registry image from its context", "-e", DEBUG, delay=0.3)
    up(inventory)
    assert registry_tags() == tags

    # 4. During a swarm join.
    on_host(host("node3"), "docker", "swarm", "leave", "--force")
    killed_at(inventory, "swarm : Read the join tokens on the leading manager", "-e", DEBUG, delay=0.3)
    up(inventory)
    assert one_swarm_of_three_ready_managers()

    # 5. During a stack deploy that changes a service.
    shutil.copytree(EXAMPLES / "web", tmp_path / "web")
    compose = yaml.safe_load((tmp_path / "web" / "compose.yml").read_text())
    compose["services"]["api"]["deploy"]["replicas"] = 3
    (tmp_path / "web" / "compose.yml").write_text(yaml.safe_dump(compose))
    three = json.dumps({"stacks": [{"name": "web", "compose_file": str(tmp_path / "web" / "compose.yml")}]})
    killed_at(inventory, "stack : Validating arguments", "-e", DEBUG, "-e", three, delay=1.5)
    up(inventory, "-e", three)
    assert on_host(host("node1"), "docker", "service", "inspect", "web_api", "--format",
                   "{{.Spec.Mode.Replicated.Replicas}}") == "3"
    up(inventory)  # back to the sample stack

    serving()
    assert registry_tags() == tags and planted() == "kept"
    assert len(set(cluster_ids().values())) == 1
    _, hosts = up(inventory)
    assert changed(hosts) == {}


def test_a_manager_that_left_rejoins_the_same_swarm(inventory):
    (before,) = set(cluster_ids().values())
    on_host(host("node1"), "docker", "swarm", "leave", "--force")
    up(inventory, "--limit", "node1")
    assert cluster_ids() == dict.fromkeys(NODES, before)  # one swarm, the same as before
    assert one_swarm_of_three_ready_managers("node2")  # the old node1 is gone from the list


def test_a_dead_manager_is_reported_and_the_others_converge(inventory, faults_lab):
    subprocess.run(["docker", "stop", host("node2")], check=True, capture_output=True)
    try:
        tasks = []
        proc, hosts = up(inventory, check=False, tasks=tasks)
        assert proc.returncode == 3
        assert "node2: UNREACHABLE" in proc.stdout and "node2: SSH to root@" in proc.stderr
        assert hosts["node2"]["unreachable"] and changed(hosts) == {}
        # The others converged through every phase to the last one on every host, not stopped at a preflight.
        reached = {(t["host"], t["role"]) for t in tasks if t["status"] == "ok"}
        phases = ("engine", "registry", "swarm", "networks")
        assert {(h, role) for h in ("node1", "node3") for role in phases} <= reached
        # The swarm stays writable with 2 of 3 managers.
        for replicas in ("1", "2"):
            on_host(host("node1"), "docker", "service", "scale", "--detach", f"web_api={replicas}")
            assert on_host(host("node1"), "docker", "service", "inspect", "web_api", "--format",
                           "{{.Spec.Mode.Replicated.Replicas}}") == replicas
    finally:
        subprocess.run(["docker", "start", host("node2")], check=True, capture_output=True)
    lab_up(faults_lab)  # waits for sshd
    _, hosts = up(inventory)
    assert set(changed(hosts)) <= {"node2"}  # changes, if any, only where the host was down
    serving()


def ansible_processes_of(run):
    """Ansible processes started by the run whose environment carries DOCKYARD_TEST_RUN=run, wherever they went
    (a process that left the run's process group or session still carries it), not another test's. The runner
    starts ansible-playbook as `python -m dockyard.quiet playbook`, and its workers are forks of that."""
    marker = f"DOCKYARD_TEST_RUN={run}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and marker in (proc / "environ").read_bytes().split(b"\0"):
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if re.search(r"ansible[- ]playbook|-m dockyard\.quiet playbook", command):
                    found.append(f"{proc.name} {command}")
    return found


def test_ctrl_c_stops_every_ansible_process_of_the_run(inventory):
    run = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "dockyard", "up", "-i", inventory, "-e", DEBUG],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DOCKYARD_TEST_RUN": run})
    for line in proc.stdout:
        if "engine : Read which Engine packages are installed" in line:
            break
    assert ansible_processes_of(run)  # the run's ansible-playbook and its workers are seen
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted by SIGINT during '" in err and "Run the same command again" in err
    assert ansible_processes_of(run) == []


def test_lost_quorum_is_refused_then_recovered_with_everything_kept(inventory, faults_lab):
    manager = host("node1")
    on_host(manager, "sh", "-c", "printf s3 | docker secret create planted_secret - >/dev/null")
    before = {kind: on_host(manager, "docker", kind, "ls", "--format", "{{.Name}}")
              for kind in ("service", "secret", "config")}
    for container in lab_containers(LAB):  # node2 and node3 are gone for good
        if container["Name"].lstrip("/") in (host("node2"), host("node3")):
            remove_container(container)
    proc, hosts = up(inventory, check=False)
    assert proc.returncode == 3
    text = proc.stdout.replace("\n      ", " ")
    assert "the swarm has lost its quorum" in text and f"dockyard swarm recover -i {inventory}" in text
    assert changed(hosts) == {}

    lab_up(faults_lab)  # node2 and node3 rebuilt, bare
    dockyard("swarm", "recover", "-i", inventory, "-e", STACKS, "-e", DEBUG)
    assert {kind: on_host(manager, "docker", kind, "ls", "--format", "{{.Name}}") for kind in before} == before
    assert nodes() == {"node1": [("Ready", "Leader")], "node2": [("Ready", "Reachable")],
                       "node3": [("Ready", "Reachable")]}
    serving()  # the rebuilt hosts pull the image and start their web tasks
    for _ in range(60):
        replicas = on_host(manager, "docker", "service", "ls", "--format", "{{.Name}} {{.Replicas}}").splitlines()
        if replicas == ["web_api 2/2 (max 1 per node)", "web_web 3/3"]:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"the services did not run all their replicas again: {replicas}")
    _, hosts = up(inventory)
    assert changed(hosts) == {}
    # Recovering a healthy swarm changes nothing.
    report = faults_lab / "recover.json"
    dockyard("swarm", "recover", "-i", inventory, "-e", STACKS, "-e", DEBUG, "--json", str(report))
    assert changed(json.loads(report.read_text())["hosts"]) == {}


def test_a_host_added_joins_and_a_dead_host_removed_from_the_inventory_leaves(inventory, faults_lab):
    lab_up(faults_lab, hosts=4)  # node4, a worker
    _, hosts = up(inventory)
    assert set(changed(hosts)) == {"node4"}
    assert nodes()["node4"] == [("Ready", "")]
    serving([*NODES, "node4"])

    subprocess.run(["docker", "stop", host("node4")], check=True, capture_output=True)
    smaller = yaml.safe_load((faults_lab / "hosts.yml").read_text())
    for group in ("docker_hosts", "swarm_workers"):
        smaller["all"]["children"][group]["hosts"].pop("node4", None)
    path = faults_lab / "without-node4.yml"
    path.write_text(yaml.safe_dump(smaller))
    up(str(path))
    assert "node4" not in nodes()
    lab_up(faults_lab, hosts=3)


def test_a_killed_data_root_move_is_finished_or_rolled_back(inventory):
    node = host("node3")
    moved = json.dumps({"engine_data_root": "/srv/docker-moved"})
    plant_volume("node3")
    images = sorted(on_host(node, "docker", "image", "ls", "-q", "--no-trunc").split())
    killed_at(inventory, "Create the new data directory", "-e", DEBUG, "-e", moved, "--limit", "node3", delay=0.2)
    running = subprocess.run(["docker", "exec", node, "docker", "info", "--format", "{{.DockerRootDir}}"],
                             capture_output=True, text=True, check=False)
    if running.returncode == 0 and running.stdout.strip() == "/srv/docker-moved":  # never on a partial copy
        assert sorted(on_host(node, "docker", "image", "ls", "-q", "--no-trunc").split()) == images
    up(inventory, "-e", moved, "--limit", "node3")
    assert on_host(node, "docker", "info", "--format", "{{.DockerRootDir}}") == "/srv/docker-moved"
    assert sorted(on_host(node, "docker", "image", "ls", "-q", "--no-trunc").split()) == images
    assert planted("node3") == "kept"
    assert on_host(node, "test", "!", "-e", "/etc/docker/dockyard-data-root-move.json") == ""
