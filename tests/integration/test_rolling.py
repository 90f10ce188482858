"""Changes under traffic: a daemon setting changed on a lab serving the sample stack rolls node by node with no
failed request, a node that does not come back stops the roll-out, and `dockyard reset` takes it all away.

The file's own lab ("rolling"): node1 manager, node2..node4 workers. node1..node3 take the changes; node4 keeps its
settings and hosts the client container that probes the api service over the overlay network.
"""

import itertools
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, address, dockyard, fresh_lab, on_host

pytestmark = pytest.mark.lab

LAB = "rolling"
CHANGED = ["node1", "node2", "node3"]
STACKS = json.dumps({"stacks": [{"name": "web", "compose_file": str(EXAMPLES / "web" / "compose.yml")}]})
PAGE = "Hello from a dockyard stack."
# The api probe inside the client container: every 100 ms, GET the api on one of its task addresses, and on a
# failure once more on another address (as a load balancer with health checks would). Bounded: it stops by itself.
PROBE = r"""
i=0
while [ $i -lt 3000 ] && [ ! -e /tmp/stop ]; do
  i=$((i+1))
  addrs=$(nslookup tasks.api 2>/dev/null | awk '/^Address: / && $2 !~ /:53$/ {print $2}')
  first=$(echo "$addrs" | awk -v n=$i 'NF {a[++c]=$1} END {if (c) print a[n % c + 1]}')
  other=$(echo "$addrs" | awk -v f="$first" 'NF && $1 != f {print $1; exit}')
  if [ -n "$first" ] && timeout 2 wget -q -O /dev/null "http://$first:9090/"; then echo "$(date +%s) ok"
  elif [ -n "$other" ] && timeout 2 wget -q -O /dev/null "http://$other:9090/"; then echo "$(date +%s) retry"
  else echo "$(date +%s) fail first=$first other=$other"; fi
  sleep 0.1
done
"""


def host(name):
    return f"dockyard-{LAB}-{name}"


@pytest.fixture(scope="module")
def rolling_lab(tmp_path_factory):
    with fresh_lab(tmp_path_factory, LAB, hosts=4) as inventory_dir:
        dockyard("up", "-i", str(inventory_dir / "hosts.yml"), "-e", STACKS)
        yield inventory_dir


def with_settings(lab, name, settings, managers=("node1",)):
    """An inventory of the lab where node1..node3 have these engine_daemon_config settings (node4 keeps its own)."""
    inventory = yaml.safe_load((lab / "hosts.yml").read_text())
    groups = inventory["all"]["children"]
    for node in CHANGED:
        groups["docker_hosts"]["hosts"][node]["engine_daemon_config"] = settings
    groups["swarm_managers"]["hosts"] = dict.fromkeys(managers)
    groups["swarm_workers"]["hosts"] = dict.fromkeys(n for n in ["node1", "node2", "node3", "node4"]
                                                     if n not in managers)
    path = lab / f"{name}.yml"
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


class Traffic:
    """HTTP to every host's published port every 100 ms from this machine, and the api probe in a client container
    on node4, for as long as the `with` block lasts (bounded by the probe's own count)."""

    def __init__(self, hosts):
        self.hosts = hosts
        self.rounds = []  # (time, {host: answered})
        self.stop = threading.Event()

    def __enter__(self):
        on_host(host("node4"), "docker", "run", "-d", "--name", "probe", "--network", "web_front",
                f"{address(host('node1'))}:5000/web:1", "sh", "-c", PROBE)
        # Measuring starts once the client container reaches the api (its overlay attachment takes a moment).
        for _ in range(60):
            warmup = on_host(host("node4"), "docker", "logs", "probe").splitlines()
            if any(line.endswith(" ok") for line in warmup):
                break
            time.sleep(0.5)
        self.warmup = len(warmup)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def run(self):
        for _ in range(6000):  # at most 10 minutes
            if self.stop.is_set():
                return
            started = time.time()
            answered = {}
            for name in self.hosts:
                proc = subprocess.run(["curl", "-s", "-m", "1", f"http://{address(host(name))}:8080/"],
                                      capture_output=True, text=True, check=False)
                answered[name] = PAGE in proc.stdout
            self.rounds.append((started, answered))
            time.sleep(max(0.0, 0.1 - (time.time() - started)))

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        state = on_host(host("node4"), "docker", "inspect", "probe", "--format",
                        "{{.State.Status}} {{.State.ExitCode}}")
        subprocess.run(["docker", "exec", host("node4"), "docker", "exec", "probe", "/bin/busybox", "touch",
                        "/tmp/stop"], capture_output=True, check=False)
        time.sleep(1)
        lines = on_host(host("node4"), "docker", "logs", "probe").splitlines()[self.warmup:]
        on_host(host("node4"), "docker", "rm", "-f", "probe")
        assert state == "running 0", f"the api probe stopped early ({state}): {lines[-20:]}"
        self.api_lines = [line for line in lines if line[:1].isdigit()]  # not busybox's "Terminated"
        self.api = [line.split()[1] for line in self.api_lines]

    def failures(self, name):
        return [t for t, answered in self.rounds if not answered[name]]


def restart_window(name):
    """(stopped, started) of the host's dockerd, in seconds since the epoch (the last restart)."""
    out = on_host(host(name), "systemctl", "show", "docker", "-p", "InactiveEnterTimestampMonotonic",
                  "-p", "ActiveEnterTimestampMonotonic")
    values = dict(line.split("=", 1) for line in out.splitlines())
    now_mono = float(on_host(host(name), "cat", "/proc/uptime").split()[0])
    offset = time.time() - now_mono
    return (offset + int(values["InactiveEnterTimestampMonotonic"]) / 1e6,
            offset + int(values["ActiveEnterTimestampMonotonic"]) / 1e6)


def drain_windows(report):
    """Host -> (drain started, node back) from the run's --json report."""
    tasks = json.loads(report.read_text())["tasks"]
    windows = {}
    for task in tasks:
        if task["task"].startswith("Drain this node until"):
            windows[task["host"]] = [task["ended"] - task["duration"], None]
        elif task["task"].startswith("Bring the node back"):
            windows[task["host"]][1] = task["ended"]
    return windows


def rolled_under_traffic(inventory, report, poll=None):
    with Traffic(["node1", "node2", "node3", "node4"]) as traffic:
        dockyard("up", "-i", inventory, "-e", STACKS, "--json", str(report))
        time.sleep(1)
    windows = drain_windows(report)
    assert set(windows) == set(CHANGED)
    restarts = sorted(restart_window(name) for name in CHANGED)
    for (_, started), (next_stopped, _) in itertools.pairwise(restarts):
        assert started < next_stopped  # one dockerd down at a time
    assert len({round(started, 1) for _, started in restarts}) == 3
    for name in CHANGED:
        low, high = windows[name]
        outside = [t for t in traffic.failures(name) if not low - 0.5 <= t <= high + 1.0]
        assert outside == [], f"{name} failed outside its drain window {windows[name]}: {outside}"
    assert traffic.failures("node4") == []
    assert all(sum(answered.values()) >= 3 for _, answered in traffic.rounds)  # 2 of node1..3, and node4
    counts = {kind: traffic.api.count(kind) for kind in ("ok", "retry", "fail")}
    print(f"\napi probe over the overlay: {counts}; host probes: {len(traffic.rounds)} rounds, failures "
          f"{ {name: len(traffic.failures(name)) for name in CHANGED} }")
    # Not one failed request: a request may be retried once on another of the service's addresses (as a load
    # balancer with health checks would), and those retries are counted above.
    assert counts["ok"] > 100 and counts["fail"] == 0, (
        f"api failures {[line for line in traffic.api_lines if ' fail' in line]}; drain windows {windows}")
    return windows


def test_a_daemon_setting_rolls_node_by_node_with_no_failed_request(rolling_lab):
    inventory = with_settings(rolling_lab, "debug", {"debug": True})
    rolled_under_traffic(inventory, rolling_lab / "roll.json")
    for name in CHANGED:
        assert on_host(host(name), "docker", "info", "--format", "{{.Debug}}") == "true"
    assert on_host(host("node1"), "docker", "node", "ls", "--format", "{{.Hostname}} {{.Availability}}").split(
        "\n") == ["node1 Active", "node2 Active", "node3 Active", "node4 Active"]


def test_with_three_managers_never_two_are_unreachable_at_once(rolling_lab):
    three = with_settings(rolling_lab, "three", {"debug": True}, managers=("node1", "node2", "node3"))
    dockyard("up", "-i", three, "-e", STACKS)  # node2 and node3 promoted
    seen, stop = [], threading.Event()

    def poll():
        for _ in range(3000):
            if stop.is_set():
                return
            for name in CHANGED:
                proc = subprocess.run(["docker", "exec", host(name), "docker", "node", "ls", "--format",
                                       "{{.ManagerStatus}}"], capture_output=True, text=True, check=False)
                if proc.returncode == 0:
                    seen.append(proc.stdout.split().count("Unreachable"))
                    break
            time.sleep(0.2)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        rolled_under_traffic(with_settings(rolling_lab, "three-back", {}, managers=("node1", "node2", "node3")),
                             rolling_lab / "roll3.json")
    finally:
        stop.set()
        poller.join()
    print(f"\nnode ls polls: {len(seen)}, most managers Unreachable at once: {max(seen)}")
    assert len(seen) > 20 and max(seen) <= 1


def test_a_setting_that_stops_dockerd_stops_the_roll_out_at_that_node(rolling_lab):
    inventory = with_settings(rolling_lab, "bad", {"debug": True}, managers=("node1", "node2", "node3"))
    bad = yaml.safe_load(Path(inventory).read_text())
    bad["all"]["children"]["docker_hosts"]["hosts"]["node2"]["engine_daemon_config"] = {
        "debug": True, "storage-driver": "btrfs"}  # valid JSON, but dockerd cannot start on overlay2's data
    path = rolling_lab / "bad2.yml"
    path.write_text(yaml.safe_dump(bad))
    node3_before = on_host(host("node3"), "cat", "/etc/docker/daemon.json")
    node3_started = restart_window("node3")[1]
    proc = dockyard("up", "-i", str(path), "-e", STACKS, check=False)
    assert proc.returncode == 1
    text = proc.stdout.replace("\n      ", " ")
    assert "dockerd on node2 did not start with the new settings" in text and "rolled back" in text
    assert '"storage-driver"' not in on_host(host("node2"), "cat", "/etc/docker/daemon.json")
    assert on_host(host("node2"), "docker", "info", "--format", "{{.Driver}}") == "overlay2"
    assert "node2 Active" in on_host(host("node1"), "docker", "node", "ls", "--format",
                                     "{{.Hostname}} {{.Availability}}")
    assert on_host(host("node3"), "cat", "/etc/docker/daemon.json") == node3_before  # never touched
    assert abs(restart_window("node3")[1] - node3_started) < 0.5  # not restarted (the clocks differ by ms)
    for name in ("node1", "node2", "node3", "node4"):
        assert PAGE in subprocess.run(["curl", "-s", "-m", "5", f"http://{address(host(name))}:8080/"],
                                      capture_output=True, text=True, check=False).stdout


def dockyard_objects(name):
    """What dockyard made on a host, as the host reports it."""
    docker = ["docker", "exec", host(name), "docker"]

    def listing(*argv):
        return sorted(subprocess.run([*docker, *argv], capture_output=True, text=True, check=True).stdout.split())

    return {"swarm": on_host(host(name), "docker", "info", "--format", "{{.Swarm.LocalNodeState}}"),
            "containers": listing("ps", "-a", "--format", "{{.Names}}"),
            "networks": listing("network", "ls", "--filter", "label=io.dockyard.managed-by", "--format", "{{.Name}}"),
            "volumes": listing("volume", "ls", "--filter", "label=io.dockyard.managed-by", "--format", "{{.Name}}")}


def test_reset_takes_the_hosts_back_and_up_builds_it_again(rolling_lab):
    # The lab as the tests above left it (3 managers, node1..3 with debug on), plus a volume and a network.
    path = Path(with_settings(rolling_lab, "objects", {"debug": True}, managers=("node1", "node2", "node3")))
    inventory = yaml.safe_load(path.read_text())
    inventory["all"]["vars"]["storage_volumes"] = [{"name": "appcache"}]
    inventory["all"]["vars"]["networks_local"] = [{"name": "backend", "subnet": "10.231.0.0/24"}]
    path.write_text(yaml.safe_dump(inventory))
    dockyard("up", "-i", str(path), "-e", STACKS)
    assert dockyard_objects("node2")["volumes"] == ["appcache"]

    check = dockyard("reset", "-i", str(path), "--check")
    listed = check.stdout
    for removed in ("web_api", "web_web", "Remove the registry container", "appcache", "backend"):
        assert removed in listed
    assert listed.count("changed     Leave the swarm") == 4
    assert dockyard_objects("node1")["swarm"] == "active"  # check mode removed nothing

    refused = dockyard("reset", "-i", str(path), check=False)  # no --yes, no terminal: nothing happens
    assert refused.returncode == 2 and "give --yes" in refused.stderr
    dockyard("reset", "-i", str(path), "--yes")
    for name in ("node1", "node2", "node3", "node4"):
        assert dockyard_objects(name) == {"swarm": "inactive", "containers": [], "networks": [], "volumes": []}
        # No secret of dockyard's stays: no login to its registry, nor its CA, nor (on its host) its key.
        left = on_host(host(name), "sh", "-c", "cat /root/.docker/config.json; ls /etc/docker/certs.d "
                                               "/etc/dockyard/registry 2>&1 || true")
        assert ":5000" not in left and "registry.pem" not in left, (name, left)

    dockyard("up", "-i", str(path), "-e", STACKS)
    for name in ("node1", "node2", "node3", "node4"):
        assert PAGE in subprocess.run(["curl", "-s", "-m", "5", f"http://{address(host(name))}:8080/"],
                                      capture_output=True, text=True, check=False).stdout
