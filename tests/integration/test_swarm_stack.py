"""The swarm and stack roles on lab hosts: a 3-host swarm (1 manager, 2 workers) running the
sample stack, changes, failures and rollback, on a lab of each Debian release; then a 5-host swarm of both releases
(3 managers on Debian 12, 2 workers on Debian 13).

The tests run in file order on the session lab, after test_engine.py configured its Engines.
"""

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, address, dockyard, fresh_lab, on_host, quiet

from dockyard.runner import run_playbook

pytestmark = pytest.mark.lab
EVERY_RELEASE = True  # on a lab of each Debian release (conftest)


def container_of(container, host):
    """The container of another host of the same lab."""
    return f"{container.rsplit('-', 1)[0]}-{host}"


@pytest.fixture(scope="module")
def manager(containers):
    """node1's container: the manager of this file's swarm, and the lab's registry."""
    return containers[0]


def nodes(manager):
    """`docker node ls` on a manager: hostname -> (status, manager status, labels other than dockyard's own)."""
    rows = on_host(manager, "docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}")
    result = {}
    for line in rows.splitlines():
        name, status, *manager_status = line.split()
        labels = json.loads(on_host(manager, "docker", "node", "inspect", name, "--format", "{{json .Spec.Labels}}"))
        assert labels.pop("dockyard.host") == name  # every node knows its inventory host, even when it is dead
        result[name] = (status, manager_status[0] if manager_status else "", labels)
    return result


def overlay_get(container, url, timeout=60):
    """An HTTP request from a client container on the stack's overlay network, tried again for a while: task DNS
    names follow task changes within seconds. The client stays attached between tries, because a node learns the
    network's names from its peers only while one of its containers is on the network (a new `docker run` per try
    starts that learning over, and on a busy machine never finishes)."""
    image = f"{address(container_of(container, 'node1'))}:5000/web:1"  # the lab's registry, with the host's login
    client = on_host(container, "docker", "run", "-d", "--network", "web_front", image, "sleep", "300")
    try:
        deadline = time.monotonic() + timeout
        while True:
            proc = subprocess.run(["docker", "exec", container, "docker", "exec", client, "/bin/busybox", "timeout",
                                   "5", "/bin/busybox", "wget", "-q", "-O", "-", url],  # (its wget -T crashes)
                                  capture_output=True, text=True, check=False)
            if proc.returncode == 0:
                return proc.stdout
            if time.monotonic() > deadline:
                service = url.split("/")[2].split(":")[0]
                peers = on_host(container, "docker", "network", "inspect", "web_front", "--format", "{{json .Peers}}")
                lookup = subprocess.run(["docker", "exec", container, "docker", "exec", client, "/bin/busybox",
                                         "nslookup", f"tasks.{service}"], capture_output=True, text=True, check=False)
                raise AssertionError(f"{url} from {container}: {proc.stderr}; tasks.{service}: "
                                     f"{lookup.stdout + lookup.stderr}; the node's overlay peers: {peers}")
            time.sleep(1)
    finally:
        on_host(container, "docker", "rm", "-f", client)


def http(address, port):
    """An HTTP request from this machine to a lab host."""
    proc = subprocess.run(["curl", "-s", "-m", "5", f"http://{address}:{port}/"], capture_output=True, text=True,
                          check=False)
    return proc.stdout


def services(manager):
    out = on_host(manager, "docker", "service", "ls", "--format", "{{.Name}} {{.Replicas}}")
    return dict(line.split(" ", 1) for line in out.splitlines())


def service_version(manager, name):
    return on_host(manager, "docker", "service", "inspect", name, "--format", "{{.Version.Index}}")


def stack_copy(tmp_path, edit):
    """A copy of the sample stack with one edit to its compose file."""
    target = tmp_path / "web"
    shutil.copytree(EXAMPLES / "web", target)
    compose = yaml.safe_load((target / "compose.yml").read_text())
    edit(compose)
    (target / "compose.yml").write_text(yaml.safe_dump(compose))
    return target / "compose.yml"


@pytest.fixture(scope="module")
def swarm_inventory(lab, containers):
    (lab / "host_vars").mkdir(exist_ok=True)
    (lab / "host_vars" / "node2.yml").write_text(yaml.safe_dump({"swarm_node_labels": {"zone": "b"}}))
    assert run_playbook("engine.yml", str(lab / "hosts.yml"), stream=io.StringIO()).exit_code == 0  # the Engines
    # Start outside any swarm (test_engine.py's site runs formed one), each Engine restarted after leaving: a node
    # that left keeps overlay gossip state that can keep it from learning the new swarm's network peers (seen once
    # in a full run: node2's `docker network inspect web_front` had no Peers for a minute).
    for container in containers:
        on_host(container, "sh", "-c", "docker swarm leave --force >/dev/null 2>&1 || true; systemctl restart docker")
    return str(lab / "hosts.yml")


def stacks(compose_file=EXAMPLES / "web" / "compose.yml"):
    return json.dumps({"stacks": [{"name": "web", "compose_file": str(compose_file)}]})


def test_check_mode_predicts_the_swarm_and_changes_nothing(swarm_inventory, containers):
    check = run_playbook("swarm.yml", swarm_inventory, check=True, stream=io.StringIO())
    assert check.exit_code == 0 and sum(s["changed"] for s in check.stats.values()) == 3  # init + 2 joins
    for container in containers:
        assert on_host(container, "docker", "info", "--format", "{{.Swarm.LocalNodeState}}") == "inactive"


def test_up_forms_the_swarm_and_serves_the_stack_on_every_node(swarm_inventory, lab, containers, manager):
    proc = dockyard("up", "-i", swarm_inventory, "-e", stacks())
    assert nodes(manager) == {"node1": ("Ready", "Leader", {}), "node2": ("Ready", "", {"zone": "b"}),
                       "node3": ("Ready", "", {})}
    assert services(manager) == {"web_api": "2/2 (max 1 per node)", "web_web": "3/3"}
    for container in containers:
        assert "Hello from a dockyard stack." in http(address(container), 8080)
    # A container on a node without an api task reaches the api on another node over the overlay.
    api_nodes = on_host(manager, "docker", "service", "ps", "web_api", "--filter", "desired-state=running",
                        "--format", "{{.Node}}").split()
    (elsewhere,) = {"node1", "node2", "node3"} - set(api_nodes)
    page = overlay_get(container_of(manager, elsewhere), "http://api:9090/")
    assert "Hello from a dockyard stack." in page
    log = Path(next(line for line in proc.stdout.splitlines() if line.startswith("log: ")).split(" ", 1)[1])
    assert "SWMTKN" not in proc.stdout + proc.stderr + log.read_text()  # join tokens never shown or logged


def test_second_run_of_swarm_and_stack_changes_nothing(swarm_inventory):
    again = run_playbook("site.yml", swarm_inventory, extra_vars=[stacks()], stream=io.StringIO())
    assert again.exit_code == 0 and sum(s["changed"] for s in again.stats.values()) == 0


def test_status_shows_the_nodes_and_replicas_docker_shows(swarm_inventory, manager):
    proc = dockyard("status", "-i", swarm_inventory)
    hosts_table, services_table = proc.stdout.split("\n\n")
    rows = [line.split() for line in hosts_table.splitlines()[1:]]
    for name, (_status, manager_status, _labels) in nodes(manager).items():
        row = next(r for r in rows if r[0] == name)
        engine = on_host(container_of(manager, name), "docker", "version", "--format", "{{.Server.Version}}")
        assert row[1:5] == ["yes", engine, "active", "manager" if manager_status else "worker"]
        container = container_of(manager, name)
        assert row[5] == on_host(container, "docker", "info", "--format", "{{.ContainersRunning}}")
    replicas = {line.split()[1]: line.split()[3] for line in services_table.splitlines()[1:]}
    assert replicas == {name: value.split()[0] for name, value in services(manager).items()} == {
        "web_api": "2/2", "web_web": "3/3"}


def test_changing_one_service_updates_only_it(swarm_inventory, tmp_path, manager):
    compose = stack_copy(tmp_path, lambda c: c["services"]["api"]["deploy"].update(replicas=3))
    web_before = service_version(manager, "web_web")
    check = dockyard("deploy", str(compose), "-n", "web", "-i", swarm_inventory, "--check", "--diff")
    assert '-                "Replicas": 2\n    +                "Replicas": 3' in check.stdout
    assert services(manager)["web_api"] == "2/2 (max 1 per node)"  # check mode changed nothing
    dockyard("deploy", str(compose), "-n", "web", "-i", swarm_inventory)
    assert services(manager) == {"web_api": "3/3 (max 1 per node)", "web_web": "3/3"}
    assert service_version(manager, "web_web") == web_before


def test_new_config_content_makes_a_new_version_and_the_old_one_goes(swarm_inventory, tmp_path, containers, manager):
    compose = stack_copy(tmp_path, lambda c: None)
    (compose.parent / "www" / "index.html").write_text("<p>Version two.</p>\n")
    before = on_host(manager, "docker", "config", "ls", "--format", "{{.Name}}")
    dockyard("deploy", str(compose), "-n", "web", "-i", swarm_inventory)
    after = on_host(manager, "docker", "config", "ls", "--format", "{{.Name}}")
    assert before.startswith("web_page_") and after.startswith("web_page_") and after != before
    assert "\n" not in after  # the old version was removed once no service used it
    assert "Version two." in http(address(containers[1]), 8080)
    dockyard("deploy", str(EXAMPLES / "web" / "compose.yml"), "-i", swarm_inventory)  # back to the sample


def test_a_service_that_cannot_start_fails_naming_it_and_rolls_back(swarm_inventory, tmp_path, manager):
    compose = stack_copy(tmp_path, lambda c: c["services"]["api"].update(command=["no-such-applet"]))
    proc = dockyard("deploy", str(compose), "-n", "web", "-i", swarm_inventory, "-e", "stack_wait_timeout=90",
                    check=False)
    assert proc.returncode == 1
    text = proc.stdout.replace("\n      ", " ")
    assert "service web_api:" in text and "non-zero exit (127)" in text
    assert "Rolled back web_api to the previous version." in text
    assert on_host(manager, "docker", "service", "inspect", "web_api", "--format",
                   "{{json .Spec.TaskTemplate.ContainerSpec.Args}}") == '["httpd","-f","-p","9090","-h","/www"]'
    page = overlay_get(manager, "http://api:9090/")
    assert "Hello from a dockyard stack." in page  # the previous version keeps serving


def test_ingress_ports_without_ipvs_are_refused_with_the_reason(swarm_inventory, tmp_path, manager):
    def publish_through_the_mesh(compose):
        compose["services"]["api"].update(ports=["9091:9090"])
        compose["services"]["api"]["deploy"]["endpoint_mode"] = "vip"

    compose = stack_copy(tmp_path, publish_through_the_mesh)
    proc = dockyard("deploy", str(compose), "-n", "web", "-i", swarm_inventory, check=False)
    assert proc.returncode == 1
    assert "publishes api:9091 through the swarm routing mesh (ingress), but the kernel of node1 has no IPVS" in (
        proc.stdout.replace("\n      ", " "))
    assert "9091" not in on_host(manager, "docker", "service", "inspect", "web_api", "--format", "{{json .Spec}}")


def write_inventory(lab, managers, workers):
    inventory = yaml.safe_load((lab / "hosts.yml").read_text())
    groups = inventory["all"]["children"]
    groups["swarm_managers"]["hosts"] = dict.fromkeys(managers)
    groups["swarm_workers"]["hosts"] = dict.fromkeys(workers)
    path = lab / "moved.yml"
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def test_an_even_manager_count_is_refused_before_any_change(lab, manager):
    before = nodes(manager)
    inventory = write_inventory(lab, ["node1", "node2"], ["node3"])
    proc = dockyard("up", "-i", inventory, check=False)  # dockyard's own check, before any playbook
    assert proc.returncode == 2 and "PLAY" not in proc.stdout
    assert "swarm_managers has 2 hosts (node1, node2); a swarm needs an odd number" in proc.stderr
    out = io.StringIO()  # the role refuses it too, for playbook users without the runner
    assert run_playbook("swarm.yml", inventory, stream=out).exit_code == 1
    assert "inventory: swarm_managers has 2 hosts (node1, node2); a swarm needs an odd number. Fix: use 1, 3, 5 " \
           "or 7 managers" in out.getvalue()
    assert nodes(manager) == before


def test_moving_workers_to_managers_promotes_them_and_back_demotes(lab, manager):
    dockyard("up", "-i", write_inventory(lab, ["node1", "node2", "node3"], []))
    assert {name: row[1] for name, row in nodes(manager).items()} == {"node1": "Leader", "node2": "Reachable",
                                                               "node3": "Reachable"}
    dockyard("up", "-i", str(lab / "hosts.yml"))
    assert {name: row[1] for name, row in nodes(manager).items()} == {"node1": "Leader", "node2": "", "node3": ""}


def test_stack_absent_removes_everything_it_made(swarm_inventory, manager):
    dockyard("deploy", str(EXAMPLES / "web" / "compose.yml"), "-i", swarm_inventory, "--absent")
    assert services(manager) == {}
    assert on_host(manager, "docker", "config", "ls", "-q", "--filter", "label=com.docker.stack.namespace=web") == ""
    assert "web_front" not in on_host(manager, "docker", "network", "ls", "--format", "{{.Name}}").split()


MIXED = "bookworm,bookworm,bookworm,trixie,trixie"  # Debian 12 managers (Engine 20.10), Debian 13 workers (26.1)


@pytest.fixture(scope="module")
def lab5(tmp_path_factory):
    """5 hosts: 3 managers on Debian 12 and 2 workers on Debian 13."""
    with fresh_lab(tmp_path_factory, "itest5", hosts=5, managers=3, release=MIXED) as inventory_dir:
        yield inventory_dir


def test_five_hosts_of_two_debian_releases_run_the_stack(lab5):
    inventory = str(lab5 / "hosts.yml")
    containers = [f"dockyard-itest5-node{i}" for i in range(1, 6)]
    # Bare hosts to the running stack in one run: Engines from an offline bundle of each release (built on this
    # bookworm machine), registry, images built on node1, swarm, stack.
    dockyard("up", "-i", inventory, "-e", "engine_source=bundle", "-e", stacks())
    versions = on_host(containers[0], "docker", "node", "ls", "--format", "{{.Hostname}} {{.EngineVersion}}")
    assert sorted(versions.splitlines()) == [f"node{i} {'20.10.24' if i < 4 else '26.1.5'}+dfsg1" for i in range(1, 6)]
    roles = {name: row[1] for name, row in nodes(containers[0]).items()}
    assert roles == {"node1": "Leader", "node2": "Reachable", "node3": "Reachable", "node4": "", "node5": ""}
    assert all(row[0] == "Ready" for row in nodes(containers[0]).values())
    assert services(containers[0]) == {"web_api": "2/2 (max 1 per node)", "web_web": "5/5"}
    for container in containers:
        assert "Hello from a dockyard stack." in http(address(container), 8080)


def test_the_commands_print_no_library_warning_or_traceback(converged, tmp_path):
    """cryptography 51 made ansible-core's SSH code warn on import (DSA): neither the console nor the logs show
    it, or anything else a library says to its developers. (Last in the file: `up` takes the lab back to its
    inventory.)"""
    inventory = str(converged / "hosts.yml")
    logs = Path(os.environ.get("DOCKYARD_STATE_DIR", ".dockyard")) / "logs"
    before = set(logs.glob("*.log"))
    report = tmp_path / "report.json"
    for argv in (["check", "-i", inventory], ["up", "-i", inventory, "--json", str(report)],
                 ["status", "-i", inventory],
                 ["deploy", "examples/stacks/web/compose.yml", "-n", "web", "-i", inventory, "--check"]):
        quiet(dockyard(*argv), " ".join(argv[:1]))
    new_logs = set(logs.glob("*.log")) - before
    assert len(new_logs) >= 3  # up, status, deploy
    for log in new_logs:
        for word in ("Warning", "Traceback", "site-packages/"):
            assert word not in log.read_text(), f"{word} in {log}"
    assert "Warning" not in report.read_text()
