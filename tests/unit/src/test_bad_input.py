"""Bad input gets one `dockyard: error:` line and exit 2: never a traceback, never a library's warning."""

import contextlib
import io
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.render import DEFAULT_K8S_VERSION

SAMPLE = "examples/stacks/web/compose.yml"


def dockyard(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, check=False,
                          cwd=cwd)


def one_error(proc, code=2):
    """The command failed with ``code`` and said so in exactly one line, with nothing of Python's around it."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert len(lines) == 1 and lines[0].startswith("dockyard: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr and "site-packages" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize(("text", "said"), [
    ("services:\n  web:\n    image: x\n   bad: [\n", "compose file YAML error at {file}:4:4: expected <block end>"),
    ("- a\n- b\n", "a compose file is a mapping (services:, networks:, ...), not list"),
    ("services:\n  web:\n    image: x\n    deploy: {replicas: two}\n",
     "services.web.deploy.replicas: 'two' is not a whole number"),
    ("services:\n  web:\n    image: x\n    environment: [1, 2]\n",
     "services.web.environment: every item of the list must be a KEY=VALUE string"),
    ("services:\n  web: [image]\n", "services.web must be a mapping of service keys"),
    ("services:\n  web:\n    image: x\n    ports: [{target: eighty}]\n",
     "services.web.ports.target: 'eighty' is not a whole number"),
])
def test_a_broken_compose_file_is_one_error_line_naming_it(tmp_path, text, said):
    stack = tmp_path / "compose.yml"
    stack.write_text(text)
    line = one_error(dockyard("render", str(stack)))
    assert said.format(file=stack) in line


@pytest.mark.parametrize("version", ["1.20", "abc", "1.99.0"])
def test_an_unknown_k8s_version_lists_the_known_ones(version):
    line = one_error(dockyard("render", SAMPLE, "--k8s-version", version))
    assert line.startswith(f"dockyard: error: --k8s-version {version}: no Kubernetes schemas for it; the versions "
                           "known are ")
    known = line.split("the versions known are ")[1].split(", ")
    assert DEFAULT_K8S_VERSION in known and known == sorted(known, key=lambda v: tuple(map(int, v.split("."))))


def test_the_known_k8s_versions_validate_in_either_spelling():
    for version in ("1.30", "1.30.0"):
        proc = dockyard("render", SAMPLE, "--k8s-version", version)
        assert proc.returncode == 0, proc.stderr
        assert "kind: Deployment" in proc.stdout


@pytest.mark.parametrize("command", ["status", "audit"])
def test_an_inventory_without_hosts_is_one_error_line(tmp_path, command):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts: {}\n")
    line = one_error(dockyard(command, "-i", str(inventory), cwd=tmp_path))
    assert line == f"dockyard: error: {inventory}: no host to run {command}.yml on"


def test_a_deploy_with_a_broken_compose_file_stops_before_ansible(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("swarm_managers:\n  hosts:\n    m1: {ansible_host: 192.0.2.1}\n")
    stack = tmp_path / "compose.yml"
    stack.write_text("services: [web]\n")
    line = one_error(dockyard("deploy", "-i", str(inventory), "-l", "m1", "--check", str(stack), cwd=tmp_path))
    assert "a compose file is a mapping whose services: maps each service's name to its keys" in line
    assert not (tmp_path / ".dockyard" / "logs").exists()  # no playbook ran


class Listener:
    """A TCP port on loopback that answers as ``mode`` says: "http" (not SSH), "silent" (accepts, never speaks) or
    "closed" (nothing listens)."""

    def __init__(self, mode):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held = []
        if mode == "closed":
            self.sock.close()
            return
        self.sock.listen(4)
        threading.Thread(target=self.serve, args=(mode,), daemon=True).start()

    def serve(self, mode):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if mode == "http":
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                conn.close()
            else:
                self.held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize(("mode", "said"), [
    ("http", "something answers there, but not an SSH server"),
    ("closed", "Connection refused"),
    ("silent", "no answer in time"),
])
def test_check_names_host_and_port_and_why_ssh_failed_in_one_line(tmp_path, mode, said):
    listener = Listener(mode)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"docker_hosts": {"hosts": {"web1": {
        "ansible_host": "127.0.0.1", "ansible_port": listener.port, "ansible_user": "deploy",
        "ansible_ssh_timeout": 2}}}}))
    started = time.monotonic()
    try:
        proc = dockyard("check", "-i", str(inventory))
    finally:
        listener.close()
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"dockyard: check: web1: SSH to deploy@127.0.0.1:{listener.port} failed: {said}")
    assert "(waited 2 s: ansible_ssh_timeout)" in lines[0]
    assert time.monotonic() - started < 15  # the host's own timeout, not a fixed one


def test_verbose_shows_the_libraries_warnings_again(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("docker_hosts:\n  hosts:\n    web1: {ansible_host: 127.0.0.1, ansible_port: 9}\n")
    quiet, loud = dockyard("check", "-i", str(inventory)), dockyard("check", "-v", "-i", str(inventory))
    assert "Warning" not in quiet.stderr
    assert "CryptographyDeprecationWarning" in loud.stderr or "cryptography" not in sys.modules  # newer libs: none


def test_check_reports_a_required_variable_the_inventory_lacks(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"docker_hosts": {"hosts": {"n1": {"ansible_connection": "local"}}},
                                         "registry": {"hosts": {"n1": {}}}}))
    proc = dockyard("check", "-i", str(inventory))
    assert proc.returncode == 2
    assert ("dockyard: check: n1: registry_password is not set (the registry role requires it). Fix: set "
            "registry_password for the host or its group (see docs/roles/registry.md)") in proc.stderr
    given = dockyard("check", "-i", str(inventory), "-e", "registry_password=twelve-chars-at-least")
    assert given.returncode == 0, given.stderr  # -e sets it for the run


def test_limit_and_connection_options_reach_ansible_playbook():
    from dockyard.cli import build_parser
    from dockyard.runner import playbook_argv

    args = build_parser().parse_args(["deploy", "-i", "inv", "-l", "node1", "-u", "admin", "--private-key", "k",
                                      "-f", "3", "-vv", "stack.yml"])
    assert (args.limit, args.user, args.private_key, args.forks, args.verbose) == ("node1", "admin", "k", 3, 2)
    argv = playbook_argv("site.yml", "inv", limit="node1", skip_tags="images", user="admin", private_key="k",
                         forks=3, verbosity=2)
    assert argv[1:3] == ["-m", "ansible"] and "-vv" in argv  # -v: Ansible as it is, warnings and all
    for pair in (["--limit", "node1"], ["--skip-tags", "images"], ["--user", "admin"], ["--private-key", "k"],
                 ["--forks", "3"]):
        assert " ".join(pair) in " ".join(argv)
    assert playbook_argv("site.yml", "inv")[1:3] == ["-m", "dockyard.quiet"]


# Malformed documents: any YAML value where the compose file has a mapping, a list or a scalar.
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 70000), st.text(max_size=8),
                    st.sampled_from(["1m", "two", "8080:80", "${X}", "0440", "CMD"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=8)
service_keys = st.sampled_from(["image", "ports", "environment", "deploy", "healthcheck", "command", "configs",
                                "secrets", "volumes", "networks", "user", "labels", "extra_hosts"])
deploy_keys = st.sampled_from(["replicas", "mode", "resources", "placement", "restart_policy", "update_config",
                               "labels", "endpoint_mode"])
services = st.dictionaries(st.sampled_from(["web", "api"]), st.one_of(
    values, st.dictionaries(service_keys, values, max_size=4),
    st.builds(lambda v, d: {"image": "x", **v, "deploy": d}, st.dictionaries(service_keys, values, max_size=3),
              st.dictionaries(deploy_keys, values, max_size=3))), min_size=1, max_size=2)
documents = st.one_of(values, st.builds(lambda s, top: {"services": s, **top}, services,
                                        st.dictionaries(st.sampled_from(["networks", "volumes", "configs"]), values,
                                                        max_size=2)))


def run_main(*args):
    """dockyard in this process (thousands of documents in seconds): (exit code, stderr). An exception that
    escapes main() is the traceback a user would see, and fails the test."""
    import ansible.utils.display  # noqa: F401 (Ansible fits its display to the real stdio on first import)

    from dockyard.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, err.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=documents)
def test_render_of_any_malformed_compose_document_is_an_answer_not_a_traceback(tmp_path, document):
    stack = tmp_path / "compose.yml"
    stack.write_text(yaml.safe_dump(document))
    code, stderr = run_main("render", str(stack))
    assert code in (0, 1, 2), stderr  # 1: manifests the schemas refuse, each named
    if code:
        assert stderr.startswith("dockyard: ") and len(
            [line for line in stderr.splitlines() if line.startswith("dockyard: error:")]) <= 1, stderr


inventory_values = st.one_of(values, st.dictionaries(
    st.sampled_from(["hosts", "children", "vars"]),
    st.one_of(values, st.dictionaries(st.sampled_from(["n1", "n2"]), values, max_size=2)), max_size=3))
inventories = st.dictionaries(st.sampled_from(["docker_hosts", "swarm_managers", "registry", "all"]),
                              inventory_values, max_size=3)


def loopback_inventory(directory, groups):
    """An inventory of the groups given whose hosts, whatever they are named, are looked for on loopback, where
    nothing listens on port 9 (no name lookups, no traffic out)."""
    (directory / "group_vars").mkdir(parents=True, exist_ok=True)
    (directory / "group_vars" / "all.yml").write_text("ansible_host: 127.0.0.1\nansible_port: 9\n")
    (directory / "hosts.yml").write_text(yaml.safe_dump(groups))
    return directory


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=inventories)
def test_check_of_any_malformed_inventory_is_an_answer_not_a_traceback(tmp_path, groups):
    code, stderr = run_main("check", "-i", str(loopback_inventory(tmp_path / "inventory", groups)))
    assert code in (0, 2, 3), stderr
    assert all(line.startswith("dockyard: ") for line in stderr.splitlines()), stderr


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=inventories, command=st.sampled_from(["status", "audit"]))
def test_status_and_audit_of_any_malformed_inventory_are_answers_not_tracebacks(tmp_path, groups, command):
    inventory = loopback_inventory(tmp_path / "inventory", groups)
    proc = dockyard(command, "-i", str(inventory), cwd=tmp_path)  # they run ansible-playbook: a process of its own
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1, 2, 3), proc.stderr


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=documents)
def test_deploy_check_of_any_malformed_compose_document_is_an_answer_not_a_traceback(tmp_path, document):
    inventory = loopback_inventory(tmp_path / "inventory", {"docker_hosts": {"hosts": {"m1": None}},
                                                            "swarm_managers": {"hosts": {"m1": None}}})
    stack = tmp_path / "compose.yml"
    stack.write_text(yaml.safe_dump(document))
    proc = dockyard("deploy", "--check", "-i", str(inventory), str(stack), cwd=tmp_path)
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    assert proc.returncode in (1, 2, 3), proc.stderr  # 3: nothing answers on m1 (loopback, port 9)
