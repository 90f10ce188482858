"""Secrets never leak: planted values (a compose secret's content and file, a vault-encrypted registry password, an
-e value, the swarm's unlock key) are searched for in every lab host's journal and /var/log, dockyard's logs, the
--json reports and the process list captured during the runs: not one hit. A manager restarted with autolock on
is unlocked by the next run, and `dockyard check` sends nothing to a host whose host key changed."""

import hashlib
import os
import secrets
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import CONTAINERS, dockyard, on_host

from dockyard.collection import state_root

pytestmark = pytest.mark.lab

STATE = state_root()
MANAGER = CONTAINERS[0]


class ProcessList:
    """`ps -eo args` on this machine every 0.2 s while the block runs."""

    def __enter__(self):
        self.seen, self.stop = set(), threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def run(self):
        while not self.stop.is_set():
            ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False)
            self.seen.update(ps.stdout.splitlines())
            time.sleep(0.2)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def run(*args, env=None):
    proc = subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, check=False,
                          env=dict(os.environ, **(env or {})))
    assert proc.returncode == 0, f"dockyard {' '.join(args)} exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def planted(lab, tmp_path_factory, vaulted_inventory):
    """The lab converged from an inventory whose registry password is vault-encrypted and whose swarm has
    autolock on, a stack with two secrets deployed (with --diff, once at -vvv), and what every run printed."""
    work = tmp_path_factory.mktemp("secrets")
    started = time.time()
    markers = {"content": "content-" + secrets.token_hex(12), "file": "file-" + secrets.token_hex(12),
               "extra_var": "extravar-" + secrets.token_hex(12),
               "registry_password": (lab / "registry.password").read_text().strip()}
    inventory = yaml.safe_load((lab / "hosts.yml").read_text())
    del inventory["all"]["vars"]["registry_password"]
    inventory["all"]["vars"]["swarm_autolock"] = True
    # The lab's own group_vars and host_vars too (other test files keep settings there), so that this file
    # converges the lab as it is and changes only what it plants.
    for kept in ("group_vars", "host_vars"):
        if (lab / kept).is_dir():
            shutil.copytree(lab / kept, work / "inventory" / kept)
    vault_pass = vaulted_inventory(work / "inventory", inventory, {"registry_password": markers["registry_password"]})
    stack = work / "vaulted"
    stack.mkdir()
    (stack / "apikey.txt").write_text(markers["file"])
    (stack / "compose.yml").write_text(yaml.safe_dump({
        "services": {"app": {"image": "${DOCKYARD_REGISTRY}/web:1", "command": ["sleep", "3600"],
                             "secrets": ["apikey", "token"], "stop_grace_period": "1s"}},
        "secrets": {"apikey": {"file": "./apikey.txt"}, "token": {"content": markers["content"]}}}))
    inv = str(work / "inventory")
    vault = ["--vault-password-file", str(vault_pass)]
    outputs, reports = [], []
    with ProcessList() as ps:
        outputs.append(run("check", "-i", inv, *vault))
        for index, (command, env) in enumerate([
                (["up", "-i", inv, *vault, "-e", f"canary={markers['extra_var']}"], None),
                (["deploy", str(stack / "compose.yml"), "-i", inv, *vault, "--diff"], None),
                (["deploy", str(stack / "compose.yml"), "-i", inv, *vault, "--diff", "-e",
                  f"canary={markers['extra_var']}"], {"ANSIBLE_VERBOSITY": "3"})]):
            reports.append(work / f"report-{index}.json")
            outputs.append(run(*command, "--json", str(reports[-1]), env=env))
    markers["unlock_key"] = on_host(MANAGER, "docker", "swarm", "unlock-key", "-q")
    yield {"logs": [log for log in (STATE / "logs").glob("*.log") if log.stat().st_mtime >= started],
           "markers": markers, "inventory": inv, "vault": vault, "stack": stack, "outputs": outputs,
           "reports": reports, "ps": ps.seen}
    run("deploy", str(stack / "compose.yml"), "-i", inv, *vault, "--absent")
    inventory["all"]["vars"]["swarm_autolock"] = False
    (work / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    run("up", "-i", inv, *vault, "--tags", "swarm")


def test_the_stack_gets_its_secrets_under_names_with_a_keyed_hash(planted):
    markers = planted["markers"]
    node = on_host(MANAGER, "docker", "service", "ps", "vaulted_app", "--filter", "desired-state=running",
                   "--format", "{{.Node}}")
    host = f"dockyard-itest-{node}"
    container = on_host(host, "docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name=vaulted_app")
    assert on_host(host, "docker", "exec", container, "/bin/busybox", "cat", "/run/secrets/apikey") == markers["file"]
    assert on_host(host, "docker", "exec", container, "/bin/busybox", "cat",
                   "/run/secrets/token") == markers["content"]
    names = on_host(MANAGER, "docker", "secret", "ls", "--format", "{{.Name}}").split()
    apikey = [n for n in names if n.startswith("vaulted_apikey_")]
    assert len(apikey) == 1
    assert not apikey[0].endswith(hashlib.sha256(markers["file"].encode()).hexdigest()[:10])  # no guess check
    keys = list((STATE / "keys").glob("secret-names-*.key"))
    assert keys and all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)


def test_no_planted_value_is_in_any_journal_log_report_or_process_argument(planted):
    markers = planted["markers"]
    places = {}
    for container in CONTAINERS:
        places[f"{container} journal"] = on_host(container, "journalctl", "--no-pager", "-o", "cat")
        places[f"{container} /var/log"] = subprocess.run(
            ["docker", "exec", container, "sh", "-c", "cat $(find /var/log -type f) 2>/dev/null | strings"],
            capture_output=True, text=True, check=False).stdout
    for log in (STATE / "logs").glob("*.log"):
        places[str(log)] = log.read_text(errors="replace")
    for report in planted["reports"]:
        places[str(report)] = report.read_text()
    for index, proc in enumerate(planted["outputs"]):
        places[f"output of run {index}"] = proc.stdout + proc.stderr
    places["process arguments"] = "\n".join(planted["ps"])
    assert len(planted["ps"]) > 20 and any("ansible" in line for line in planted["ps"])
    assert any("ESTABLISH SSH CONNECTION" in text for text in places.values())  # the -vvv run was logged
    hits = [f"{name} in {place}" for name, value in markers.items() for place, text in places.items()
            if value in text]
    assert hits == []


def test_state_directory_logs_reports_and_keys_are_private(planted):
    for directory in (STATE, STATE / "logs", STATE / "keys", STATE / "runs"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert len(planted["logs"]) == 3  # those of the up and the two deploys
    for path in [*planted["logs"], *(STATE / "keys").glob("*"), *planted["reports"]]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    kept = [k.read_text().strip() for k in (STATE / "keys").glob("swarm-unlock-*.key")]
    assert planted["markers"]["unlock_key"] in kept


def test_a_manager_restarted_with_autolock_is_unlocked_by_the_next_run(planted):
    on_host(MANAGER, "systemctl", "restart", "docker")
    assert on_host(MANAGER, "docker", "info", "--format", "{{.Swarm.LocalNodeState}}") == "locked"
    proc = run("up", "-i", planted["inventory"], *planted["vault"], "--tags", "swarm")
    assert "Unlock a locked manager" in proc.stdout
    assert on_host(MANAGER, "docker", "info", "--format", "{{.Swarm.LocalNodeState}}") == "active"
    for _ in range(60):  # the workers report to the restarted manager again within a few heartbeats
        statuses = on_host(MANAGER, "docker", "node", "ls", "--format", "{{.Status}}").split()
        if statuses == ["Ready"] * 3:
            break
        time.sleep(1)
    assert statuses == ["Ready"] * 3


def test_check_refuses_a_changed_host_key_before_sending_credentials(planted, lab):
    inventory = yaml.safe_load(Path(planted["inventory"], "hosts.yml").read_text())
    inventory["all"]["children"]["docker_hosts"]["hosts"]["node3"]["ansible_password"] = "pw-" + secrets.token_hex(8)
    path = Path(planted["inventory"]).parent / "changed-key.yml"
    path.write_text(yaml.safe_dump(inventory))
    node3 = CONTAINERS[2]
    on_host(node3, "sh", "-c", "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A -q && systemctl restart ssh")
    since = on_host(node3, "date", "+%Y-%m-%d %H:%M:%S")
    try:
        proc = subprocess.run([sys.executable, "-m", "dockyard", "check", "-i", str(path)], capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 2
        assert "node3: the SSH host key of" in proc.stderr and "is not the one in known_hosts" in proc.stderr
        assert "node1:" not in proc.stderr and "node2:" not in proc.stderr
        sshd = on_host(node3, "journalctl", "-u", "ssh", "--since", since, "--no-pager", "-o", "cat")
        assert "Accepted" not in sshd and "Failed" not in sshd and "password" not in sshd.lower()
    finally:
        dockyard("lab", "up", "--hosts", "3", "--name", "itest", "--inventory-dir", str(lab))  # new known_hosts
    dockyard("check", "-i", str(lab / "hosts.yml"))
