"""`dockyard lab`: real systemd + sshd hosts on this machine."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONTAINERS, LAB, dockyard, labelled, on_host

from dockyard import lab as labmod
from dockyard.collection import ansible_env
from dockyard.errors import EnvironmentProblem
from dockyard.lab import image

pytestmark = pytest.mark.lab


def ping(inventory):
    """ansible ping over new SSH connections (no shared master), so the key the host trusts now is what counts."""
    return subprocess.run([sys.executable, "-m", "ansible", "adhoc", "-i", str(inventory), "docker_hosts",
                           "-m", "ansible.builtin.ping"], capture_output=True, text=True, check=False,
                          env={**os.environ, "ANSIBLE_SSH_ARGS": "-o ControlMaster=no"})


def test_hosts_boot_systemd_and_answer_ansible_ping_over_ssh(lab):
    for container in CONTAINERS:
        assert on_host(container, "systemctl", "is-system-running") == "running"
        assert on_host(container, "systemctl", "is-active", "ssh") == "active"
    proc = ping(lab / "hosts.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in ("node1", "node2", "node3"):
        assert f"{host} | SUCCESS" in proc.stdout


def test_host_facts_reads_on_each_host_what_the_setup_module_gathers(lab):
    """site.yml reads its facts with dockyard.fleet.host_facts (one shell command) instead of the setup module."""
    def adhoc(module, *args):
        proc = subprocess.run([sys.executable, "-m", "ansible", "adhoc", "-i", str(lab / "hosts.yml"), "docker_hosts",
                               "-m", module, *args], capture_output=True, text=True, check=True,
                              env={**ansible_env(), "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
        return {line.split(" | ")[0]: json.loads(line.split(" => ", 1)[1])["ansible_facts"]
                for line in re.split(r"\n(?=node\d)", proc.stdout.strip())}
    ours, gathered = adhoc("dockyard.fleet.host_facts"), adhoc("ansible.builtin.setup", "-a", "gather_subset=min")
    names = ["os_family", "distribution", "distribution_version", "distribution_major_version",
             "distribution_release", "architecture", "service_mgr", "user_id", "python_version"]
    assert sorted(ours) == ["node1", "node2", "node3"]
    for host, facts in ours.items():
        assert {n: facts[n] for n in names} == {n: gathered[host][f"ansible_{n}"] for n in names}, host
        assert facts["service_mgr"] == "systemd" and facts["distribution"] == "Debian"
        version = gathered[host]["ansible_python"]["version"]
        assert facts["python"]["version"] == {k: version[k] for k in ("major", "minor", "micro")}


def test_lab_up_twice_keeps_the_same_hosts_and_gives_them_this_labs_key(lab):
    before = labelled("container")
    inventory = (lab / "hosts.yml").read_text()
    # A host kept from an interrupted run made with another inventory directory trusts another key.
    on_host(CONTAINERS[0], "sh", "-c", "echo ssh-ed25519 AAAA other > /root/.ssh/authorized_keys")
    assert "node1 | UNREACHABLE" in ping(lab / "hosts.yml").stdout
    dockyard("lab", "up", "--hosts", "3", "--name", LAB, "--inventory-dir", str(lab))
    assert labelled("container") == before and len(before) == 3
    assert (lab / "hosts.yml").read_text() == inventory
    assert ping(lab / "hosts.yml").returncode == 0


def test_lab_status_shows_hosts_and_names_missing_ipvs(lab):
    proc = dockyard("lab", "status", "--name", LAB)
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("node")]
    assert [(r[0], r[4], r[6], r[7]) for r in rows] == [(f"node{i}", "bookworm", "running", "answers")
                                                         for i in (1, 2, 3)]
    engine = on_host(CONTAINERS[0], "sh", "-c", "docker version --format '{{.Server.Version}}' 2>/dev/null || echo -")
    assert rows[0][5] == engine  # what the host's Engine says, or - before it is installed
    ipvs = labmod.kernel_features()["ipvs"]
    assert f"kernel ipvs: {ipvs}" in proc.stdout
    if not Path("/proc/net/ip_vs").exists():
        assert "routing mesh" in ipvs and "mode: host" in ipvs


def test_debootstrap_failure_is_a_clear_error(monkeypatch):
    # A recipe no image exists for, and a mirror on a closed loopback port: debootstrap fails fast.
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "hello"))
    with pytest.raises(EnvironmentProblem) as failure:
        image.ensure_image("http://127.0.0.1:9/debian", out=lambda _: None)
    message = str(failure.value)
    assert message.startswith("debootstrap failed (exit ")
    assert "http://127.0.0.1:9/debian" in message and "--mirror URL" in message


def test_lab_up_fresh_or_another_release_replaces_hosts_and_lab_down_removes_everything_it_made_and_nothing_else(
        tmp_path):
    other = subprocess.run(["docker", "volume", "create", "--label", "dockyard.lab=someone-else", "keep-me"],
                           capture_output=True, text=True, check=True).stdout.strip()
    up = ("lab", "up", "--hosts", "1", "--name", "itest-down", "--inventory-dir", str(tmp_path / "inv"))
    try:
        dockyard(*up)
        (kept,) = labelled("container", "itest-down")
        on_host("dockyard-itest-down-node1", "touch", "/var/lib/docker/left-behind")
        dockyard(*up, "--fresh")
        (fresh,) = labelled("container", "itest-down")
        assert fresh != kept
        assert on_host("dockyard-itest-down-node1", "ls", "/var/lib/docker") == ""  # its volumes are new too
        dockyard(*up, "--release", "trixie")  # a kept host of another Debian release is replaced
        (trixie,) = labelled("container", "itest-down")
        assert trixie != fresh
        assert on_host("dockyard-itest-down-node1", "sh", "-c", ". /etc/os-release; echo $VERSION_CODENAME") == "trixie"
        assert " trixie " in dockyard("lab", "status", "--name", "itest-down").stdout
        dockyard("lab", "down", "--name", "itest-down")
        for kind in ("container", "network", "volume"):
            assert labelled(kind, "itest-down") == [], kind
        assert not (tmp_path / "inv").exists()
        assert labelled("volume", "someone-else") == [other]
    finally:
        subprocess.run(["docker", "volume", "rm", "-f", other], check=False, capture_output=True)
        dockyard("lab", "down", "--name", "itest-down", check=False)
