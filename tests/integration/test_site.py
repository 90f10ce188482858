"""`dockyard up` (site.yml) against the lab, asserted on the hosts."""

import io

import pytest
from conftest import CONTAINERS, docker_info, dockyard, on_host

from dockyard.runner import run_playbook

pytestmark = pytest.mark.lab


def total(result, key):
    return sum(stats[key] for stats in result.stats.values())


def test_site_installs_a_running_engine_and_second_run_changes_nothing(lab):
    inventory = str(lab / "hosts.yml")
    check = run_playbook("site.yml", inventory, check=True, stream=io.StringIO())
    assert check.exit_code == 0 and total(check, "changed") >= 3  # predicts the install on each host
    for container in CONTAINERS:  # ... and changed nothing
        assert on_host(container, "sh", "-c", "command -v dockerd || echo absent") == "absent"

    proc = dockyard("up", "-i", inventory)
    assert "node1" in proc.stdout and "CHANGED" in proc.stdout  # the summary table
    for container in CONTAINERS:
        assert on_host(container, "systemctl", "is-active", "docker", "containerd") == "active\nactive"
        info = docker_info(container)
        assert info["Driver"] == "overlay2" and info["DockerRootDir"] == "/var/lib/docker"
        assert info["ServerVersion"].startswith("20.10")

    again = run_playbook("site.yml", inventory, stream=io.StringIO())
    assert again.exit_code == 0 and total(again, "changed") == 0 and set(again.stats) == {"node1", "node2", "node3"}


def test_engine_that_cannot_start_fails_naming_host_and_task(lab):
    container = CONTAINERS[2]
    on_host(container, "sh", "-c", "apt-get install -y -qq docker.io >/dev/null 2>&1 || true")
    on_host(container, "sh", "-c", "echo '{\"no-such-option\": true}' > /etc/docker/daemon.json")
    on_host(container, "systemctl", "stop", "docker.socket", "docker")
    try:
        proc = dockyard("up", "-i", str(lab / "hosts.yml"), "--limit", "node3", "--tags", "service", check=False)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "node3: FAILED: engine : Run Docker Engine under systemd" in proc.stdout
        assert "docker" in proc.stdout.split("FAILED: engine : Run Docker Engine under systemd", 1)[1]
        assert "Traceback" not in proc.stdout + proc.stderr
    finally:
        on_host(container, "rm", "-f", "/etc/docker/daemon.json")
        on_host(container, "sh", "-c", "systemctl reset-failed docker; systemctl start docker")
    assert docker_info(container)["ServerVersion"]


def test_bad_variable_fails_before_the_engine_is_touched_naming_it(lab):
    proc = dockyard("up", "-i", str(lab / "hosts.yml"), "-e", "engine_source=docker_hub", check=False)
    assert proc.returncode == 1
    assert "engine_source" in proc.stdout and "docker_hub" in proc.stdout
    assert "Install Docker Engine packages" not in proc.stdout  # stopped at argument validation
