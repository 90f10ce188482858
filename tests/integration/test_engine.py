"""The engine role on bare lab hosts, asserted on the hosts themselves.

The tests run in file order on one session lab: check mode on bare hosts, an offline
bundle install, the full run, then changes, refusals and a rollback on configured hosts.
"""

import hashlib
import io
import json
import tarfile
from contextlib import contextmanager

import jsonschema
import pytest
import yaml
from conftest import docker_info, dockyard, load_image, on_host

from dockyard.collection import state_root
from dockyard.report import SCHEMA_PATH
from dockyard.runner import run_playbook

pytestmark = pytest.mark.lab
EVERY_RELEASE = True  # on a lab of each Debian release (conftest): Engine 20.10 and 26.1

SETTINGS = {"engine_data_root": "/srv/docker", "engine_storage_driver": "overlay2", "engine_log_max_size": "20m",
            "engine_users": ["nobody"]}


@pytest.fixture(scope="module")
def inventory(lab):
    """The lab inventory with engine settings in group_vars, as an operator would keep them."""
    (lab / "group_vars").mkdir(exist_ok=True)
    (lab / "group_vars" / "docker_hosts.yml").write_text(yaml.safe_dump(SETTINGS))
    return str(lab / "hosts.yml")


def total(result, key):
    return sum(stats[key] for stats in result.stats.values())


def main_pids(container):
    return on_host(container, "systemctl", "show", "--property", "MainPID", "--value", "docker", "containerd").split()


def daemon_json(container):
    return on_host(container, "cat", "/etc/docker/daemon.json")


@contextmanager
def offline(container):
    """The host loses its route to everything outside the lab's subnet (package mirrors included)."""
    on_host(container, "ip", "route", "del", "default")
    try:
        yield
    finally:
        gateway = json.loads(on_host(container, "ip", "-j", "addr", "show", "eth0"))[0]["addr_info"][0]["local"]
        on_host(container, "ip", "route", "add", "default", "via", gateway.rsplit(".", 1)[0] + ".1")


def test_check_mode_on_bare_hosts_predicts_and_changes_nothing(inventory, containers):
    check = run_playbook("site.yml", inventory, check=True, diff=True, stream=io.StringIO())
    assert check.exit_code == 0
    # daemon.json, install and users on each host, then the swarm's init and joins
    assert all(stats["changed"] >= 4 for stats in check.stats.values())
    for container in containers:
        assert on_host(container, "sh", "-c", "command -v dockerd; ls /etc/docker 2>&1; id -nG nobody") == (
            "ls: cannot access '/etc/docker': No such file or directory\nnogroup")


# Debian's Engine of each release: the bundle (built on this bookworm machine, whatever the hosts run) pins it.
ENGINES = {"bookworm": "20.10.24", "trixie": "26.1.5"}


def test_offline_bundle_installs_on_a_host_without_a_route_to_mirrors(inventory, containers, release):
    container = containers[2]
    with offline(container):
        assert on_host(container, "ip", "route", "show", "default") == ""
        out = io.StringIO()  # the engine alone: node3's swarm manager has no Engine yet
        result = run_playbook("engine.yml", inventory, limit="node3", stream=out,
                              extra_vars=["engine_source=bundle", f"engine_version={ENGINES[release]}"])
        assert result.exit_code == 0, out.getvalue()
        assert "changed     engine : Install Docker Engine packages from the bundle" in out.getvalue()
        assert on_host(container, "systemctl", "is-active", "docker", "containerd") == "active\nactive"
        info = docker_info(container)  # asked with the docker command: on trixie it comes from docker-cli
        assert info["DockerRootDir"] == "/srv/docker" and info["ServerVersion"].startswith(ENGINES[release] + "+")
    assert on_host(container, "sh", "-c", "ls /var/cache/dockyard/*/Packages | wc -l") == "1"


def flip_byte(handle, offset):
    handle.seek(offset)
    byte = handle.read(1)
    handle.seek(offset)
    handle.write(bytes([byte[0] ^ 1]))


def test_a_bundle_changed_after_it_was_built_is_refused_on_the_control_machine_and_replaced_on_a_host(
        inventory, containers):
    container = containers[2]
    # The bundle node3 installed from above (the state directory may hold bundles of other releases too).
    archive = state_root() / "bundles" / f"{on_host(container, 'ls', '/var/cache/dockyard')}.tar"
    original = archive.read_bytes()
    with tarfile.open(archive) as tar:
        deb = next(m for m in tar if m.name.endswith(".deb"))
    with archive.open("r+b") as handle:
        flip_byte(handle, deb.offset_data + 100)
    # A package to install on node3: the bundle is used (and checked) only when some host installs from it.
    on_host(container, "sh", "-c", "apt-get remove -y -q tini >/dev/null")
    try:
        out = io.StringIO()
        result = run_playbook("engine.yml", inventory, limit="node3", extra_vars=["engine_source=bundle"], stream=out)
        assert result.exit_code == 1
        assert f"is not as it was built: {deb.name} differs" in out.getvalue().replace("\n    ", " ")
    finally:
        archive.write_bytes(original)
    # On the host: its unpacked copy changed (and a package to install), so it is unpacked afresh and verified.
    copy = on_host(container, "sh", "-c", "ls /var/cache/dockyard/*/tini_*.deb")
    on_host(container, "sh", "-c", f"printf X | dd of={copy} bs=1 seek=200 conv=notrunc 2>/dev/null")
    with offline(container):
        out = io.StringIO()
        result = run_playbook("engine.yml", inventory, limit="node3", extra_vars=["engine_source=bundle"], stream=out)
    assert result.exit_code == 0, out.getvalue()
    assert "changed     engine : Copy and unpack the bundle" in out.getvalue()
    with tarfile.open(archive) as tar:
        member = tar.extractfile(next(m for m in tar if m.name.endswith(copy.rsplit("/", 1)[1])))
        assert on_host(container, "sha256sum", copy).split()[0] == hashlib.sha256(member.read()).hexdigest()
    assert on_host(container, "dpkg-query", "-W", "-f", "${Status}", "tini") == "install ok installed"


def test_up_configures_every_host_and_a_container_runs_on_each(inventory, web_image, tmp_path, containers):
    proc = dockyard("up", "-i", inventory, "--json", str(tmp_path / "report.json"))
    assert "node1" in proc.stdout and "CHANGED" in proc.stdout  # the summary table
    report = json.loads((tmp_path / "report.json").read_text())
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))
    assert report["exit_code"] == 0 and set(report["hosts"]) == {"node1", "node2", "node3"}
    for host, counts in report["hosts"].items():  # the report matches the run, task by task
        mine = [t for t in report["tasks"] if t["host"] == host]
        assert counts["changed"] == sum(t["status"] == "changed" for t in mine) >= 1
        assert f"\n{host:<18}{counts['ok']:>6}{counts['changed']:>9}" in proc.stdout  # and the summary table
        installed = any(t["task"] == "Install Docker Engine packages" and t["changed"] for t in mine)
        assert installed == (host != "node3")  # node3 has had its Engine from the bundle since the test above
    for container in containers:
        assert on_host(container, "systemctl", "is-active", "docker", "containerd") == "active\nactive"
        info = docker_info(container)
        assert (info["DockerRootDir"], info["Driver"], info["LoggingDriver"]) == ("/srv/docker", "overlay2",
                                                                                 "json-file")
        assert info["LiveRestoreEnabled"] is False  # every lab host is a Swarm node (manager or worker)
        assert "docker" in on_host(container, "id", "-nG", "nobody").split()
        load_image(container, web_image)
        on_host(container, "docker", "run", "-d", "--name", "probe", "--stop-timeout", "1", web_image,
                "sleep", "600")
        state = json.loads(on_host(container, "docker", "inspect", "probe"))[0]
        assert state["State"]["Running"] is True
        assert state["HostConfig"]["LogConfig"] == {"Type": "json-file",
                                                    "Config": {"max-file": "3", "max-size": "20m"}}

    again = run_playbook("site.yml", inventory, stream=io.StringIO())
    assert again.exit_code == 0 and total(again, "changed") == 0 and set(again.stats) == {"node1", "node2", "node3"}


def test_changing_one_setting_shows_a_diff_and_restarts_only_that_daemon(inventory, containers):
    before = {container: main_pids(container) for container in containers}
    proc = dockyard("up", "-i", inventory, "--limit", "node2", "--diff", "-e", "engine_log_max_file=5")
    assert '-    "max-file": "3",\n    +    "max-file": "5",' in proc.stdout
    after = {container: main_pids(container) for container in containers}
    node1, node2, node3 = containers
    assert after[node1] == before[node1] and after[node3] == before[node3]
    assert after[node2][0] != before[node2][0] and after[node2][1] == before[node2][1]  # dockerd, not containerd
    assert '"max-file": "5"' in daemon_json(node2)


def test_flags_and_proxy_go_into_a_drop_in_and_leave_with_it(inventory, containers):
    node2 = containers[1]
    proxy = "http://ops:planted-proxy-pass@proxy.lab.invalid:3128"
    proc = dockyard("up", "-i", inventory, "--limit", "node2", "--diff", "-e",
                    json.dumps({"engine_daemon_flags": ["--debug"], "engine_http_proxy": proxy}))
    assert "planted-proxy-pass" not in proc.stdout + proc.stderr  # its diff too
    dropin = "/etc/systemd/system/docker.service.d/dockyard.conf"
    assert on_host(node2, "stat", "-c", "%a", dropin) == "600"  # a password in it: root alone reads it
    unit = on_host(node2, "systemctl", "cat", "docker")
    assert unit.count("ExecStart=") == 3  # packaged, reset, ours
    ours = unit.rsplit("ExecStart=", 1)[1].splitlines()[0]  # and ours keeps the packaged unit's containerd
    assert ours == "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock --debug"
    info = docker_info(node2)
    assert info["Debug"] is True and "@proxy.lab.invalid:3128" in info["HttpProxy"]

    dockyard("up", "-i", inventory, "--limit", "node2")
    assert on_host(node2, "sh", "-c", "ls /etc/systemd/system/docker.service.d 2>/dev/null | wc -l") == "0"
    info = docker_info(node2)
    assert info["Debug"] is False and info["HttpProxy"] == ""


@pytest.mark.parametrize("extra, message", [
    ({"engine_daemon_config": {"log-opt": {"max-size": "1m"}}}, "unknown key 'log-opt' (did you mean 'log-opts'?)"),
    ({"engine_daemon_config": {"live-restore": True}},
     "'live-restore' is true on a Swarm node; dockerd refuses live-restore in swarm mode"),
])
def test_bad_daemon_settings_are_refused_before_any_write(inventory, extra, message, containers):
    node1 = containers[0]
    listing = "ls -l --time-style=full-iso /etc/docker; md5sum /etc/docker/daemon.json"
    before = on_host(node1, "sh", "-c", listing)
    proc = dockyard("up", "-i", inventory, "--limit", "node1", "-e", json.dumps(extra), check=False)
    assert proc.returncode == 1
    assert "node1: FAILED: engine : Write daemon.json" in proc.stdout
    assert f"Refused to write /etc/docker/daemon.json on node1: {message}" in proc.stdout.replace("\n      ", " ")
    assert on_host(node1, "sh", "-c", listing) == before


def test_a_setting_dockerd_cannot_start_with_is_rolled_back(inventory, containers):
    node3 = containers[2]
    before = daemon_json(node3)
    proc = dockyard("up", "-i", inventory, "--limit", "node3", "-e", "engine_storage_driver=btrfs", check=False)
    assert proc.returncode == 1, proc.stdout
    assert "Put the previous daemon.json back" in proc.stdout
    text = proc.stdout.replace("\n      ", " ")
    assert "dockerd on node3 did not start with the new settings (storage-driver), so they were rolled back" in text
    assert "error initializing graphdriver" in text  # the daemon's own words
    assert "Traceback" not in proc.stdout + proc.stderr
    assert daemon_json(node3) == before
    assert on_host(node3, "systemctl", "is-active", "docker") == "active"
    assert docker_info(node3)["Driver"] == "overlay2"


def test_a_setting_only_dockerd_can_judge_is_refused_by_dockerd_validate_where_it_has_it(inventory, containers,
                                                                                         release):
    node3 = containers[2]
    before = daemon_json(node3), main_pids(node3)
    planted = {"engine_daemon_config": {"made-up-option": True}, "engine_daemon_allow_keys": ["made-up-option"]}
    proc = dockyard("up", "-i", inventory, "--limit", "node3", "-e", json.dumps(planted), check=False)
    assert proc.returncode == 1, proc.stdout
    text = proc.stdout.replace("\n      ", " ")
    if release == "bookworm":  # Engine 20.10 has no --validate: dockerd fails to start, the old file comes back
        assert "did not start with the new settings (made-up-option), so they were rolled back" in text
        assert daemon_json(node3) == before[0]
    else:  # Engine 26: refused before the write, dockerd never restarted, in dockerd's own words
        assert "Refused to write /etc/docker/daemon.json on node3: dockerd --validate refused it" in text
        assert "the following directives don't match any configuration option: made-up-option" in text
        assert (daemon_json(node3), main_pids(node3)) == before
    assert on_host(node3, "systemctl", "is-active", "docker") == "active"


def test_docker_ce_source_is_one_signed_deb822_file_or_the_hosts_own(inventory, containers, release):
    node1 = containers[0]
    with offline(node1):  # apt only parses the source here; nothing leaves the lab
        dockyard("up", "-i", inventory, "--limit", "node1", "-e", "engine_source=docker_ce", "--tags", "repo")
        uris = on_host(node1, "apt-get", "-o", "Dir::Etc::SourceList=/etc/apt/sources.list.d/docker.sources",
                       "-o", "Dir::Etc::SourceParts=-", "--print-uris", "update")
        assert f"https://download.docker.com/linux/debian/dists/{release}/stable/binary-amd64/Packages" in uris
        assert "Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----" in on_host(
            node1, "cat", "/etc/apt/sources.list.d/docker.sources")

        on_host(node1, "sh", "-c", "echo 'deb [signed-by=/etc/apt/keyrings/docker.asc] "
                f"https://download.docker.com/linux/debian {release} stable' > /etc/apt/sources.list.d/docker.list")
        try:
            dockyard("up", "-i", inventory, "--limit", "node1", "-e", "engine_source=docker_ce", "--tags", "repo")
            assert on_host(node1, "ls", "/etc/apt/sources.list.d") == "docker.list"  # adopted, ours dropped
        finally:
            on_host(node1, "rm", "-f", "/etc/apt/sources.list.d/docker.list")


def test_bad_variable_fails_before_the_engine_is_touched_naming_it(inventory):
    proc = dockyard("up", "-i", inventory, "-e", "engine_source=docker_hub", check=False)
    assert proc.returncode == 1
    assert "engine_source" in proc.stdout and "docker_hub" in proc.stdout
    assert "Write daemon.json" not in proc.stdout  # stopped at argument validation
