"""The reads sent to a host's Python alone (plugin_utils._remote) run in an interpreter that cannot import Ansible,
and answer what the modules they stand in for answer: engine_info's read against an Engine API on a unix socket,
registry_login's against the files a module run compares; and through Ansible, with pipelining and without, the
module is sent only where something changes."""

import http.server
import json
import os
import socketserver
import subprocess
import sys
import threading
import typing
from pathlib import Path

import pytest
from ansible_collections.dockyard.fleet.plugins.action.registry_login import read_args
from ansible_collections.dockyard.fleet.plugins.module_utils._registry_auth import encode_auth
from ansible_collections.dockyard.fleet.plugins.plugin_utils._remote import script

from dockyard.collection import ansible_env

PASSWORD = "planted-password-77c1"
REGISTRY = "registry.lab:5000"


def on_host(files, function, **kwargs):
    """What the read prints, run as the host runs it: the program on python3's standard input, with no site-packages
    and no PYTHONPATH (so nothing but the standard library and the files sent can be imported)."""
    done = subprocess.run([sys.executable, "-I", "-"], input=script(files, function, kwargs), capture_output=True,
                          text=True, check=True, env={"PATH": os.environ["PATH"]})
    return json.loads(done.stdout), done.stdout


class Engine(http.server.BaseHTTPRequestHandler):
    """An Engine 26 answering /version and /info, a swarm manager of a swarm with autolock."""

    ANSWERS: typing.ClassVar[dict] = {
        "/version": {"Version": "26.1.5", "ApiVersion": "1.45", "MinAPIVersion": "1.24"},
        "/v1.45/version": {"Version": "26.1.5", "ApiVersion": "1.45"},
        "/v1.45/info": {"OperatingSystem": "Debian GNU/Linux 12 (bookworm)", "Driver": "overlay2", "Swarm": {
            "LocalNodeState": "active", "NodeID": "n1", "ControlAvailable": True,
            "RemoteManagers": [{"Addr": "10.0.0.12:2377"}, {"Addr": "10.0.0.11:2377"}],
            "Cluster": {"ID": "c1", "Spec": {"EncryptionConfig": {"AutoLockManagers": True}}}}},
        "/v1.45/nodes": [{"ID": "n1", "Spec": {"Role": "manager"}, "Description": {"Hostname": "node1", "Engine": {}}}],
    }

    def do_GET(self):
        body = json.dumps(self.ANSWERS[self.path]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class UnixEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _address = super().get_request()
        return request, ("local", 0)  # BaseHTTPRequestHandler logs and formats a (host, port) client address


@pytest.fixture(name="engine_socket")
def engine_socket_fixture(tmp_path):
    path = str(tmp_path / "docker.sock")
    server = UnixEngine(path, Engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield path
    server.shutdown()
    server.server_close()


def test_the_engine_read_reports_version_swarm_and_nodes_without_ansible(engine_socket, tmp_path):
    answer, _ = on_host(["_docker_api", "_engine_state"], "read", docker_host=f"unix://{engine_socket}",
                        api_timeout=5, nodes=True)
    engine = answer["engine"]
    assert engine["server_version"] == "26.1.5" and engine["api_version"] == "1.45"
    assert engine["swarm"] == {"state": "active", "node_id": "n1", "is_manager": True, "cluster_id": "c1",
                               "autolock": True, "epoch": "", "error": "",
                               "managers": ["10.0.0.11:2377", "10.0.0.12:2377"],
                               "nodes": [{"ID": "n1", "Spec": {"Role": "manager"},
                                          "Description": {"Hostname": "node1"}}]}

    missing = str(tmp_path / "none.sock")
    answer, _ = on_host(["_docker_api", "_engine_state"], "read", docker_host=missing, api_timeout=5)
    assert answer["failed"]
    assert f"on {os.uname().nodename}: Docker Engine is not answering on {missing}" in answer["msg"]
    answer, _ = on_host(["_docker_api", "_engine_state"], "read", docker_host=missing, api_timeout=5, missing_ok=True)
    assert answer == {"engine": {"running": False, "swarm": {
        "state": "inactive", "node_id": None, "is_manager": False, "cluster_id": "", "autolock": False, "epoch": "",
        "error": "", "managers": []}}}


@pytest.mark.parametrize("stored", [None, "old-password-1", PASSWORD])
def test_the_login_read_predicts_what_the_module_reports_and_never_prints_the_password(tmp_path, stored, run_module):
    config = tmp_path / "config.json"
    if stored:
        config.write_text(json.dumps({"auths": {REGISTRY: {"auth": encode_auth("builder", stored)}}}))
    args = {"registry": REGISTRY, "username": "builder", "password": PASSWORD, "config_path": str(config),
            "ca_cert": "-----CA-----", "certs_dir": str(tmp_path / "certs.d")}
    state, output = on_host(["_registry_auth"], "login_state", **args)
    module, _ = run_module("registry_login", args, check=True)
    assert PASSWORD not in output and "old-password-1" not in output
    assert (state["before"], state["after"]) == (module["diff"]["before"], module["diff"]["after"])
    assert state["before"][REGISTRY] == {None: None, "old-password-1": "builder (another password)",
                                         PASSWORD: "builder"}[stored]
    assert state["ca_path"] == module["ca_path"] and state["config_path"] == module["config_path"]

    config.write_text("{not json")
    state, _ = on_host(["_registry_auth"], "login_state", **args)
    assert state == {"failed": True, "msg": f"{config} on {os.uname().nodename} is not valid JSON (Expecting "
                                            "property name enclosed in double quotes: line 1 column 2 (char 1)); "
                                            "fix or remove it, then run again."}



@pytest.mark.parametrize("stored", ["old-password-1", PASSWORD])
def test_the_action_sends_a_salted_proof_of_the_password_never_the_password(tmp_path, stored):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {REGISTRY: {"auth": encode_auth("builder", stored)}}}))
    args = {"registry": REGISTRY, "username": "builder", "password": PASSWORD, "config_path": str(config),
            "ca_cert": None, "certs_dir": str(tmp_path / "certs.d"), "wait_timeout": 0, "state": "present"}
    sent = read_args(args)
    assert PASSWORD not in script(["_registry_auth"], "login_state", sent) and sent["salt"] != read_args(args)["salt"]
    state, _ = on_host(["_registry_auth"], "login_state", **sent)
    assert state["before"][REGISTRY] == ("builder" if stored == PASSWORD else "builder (another password)")


def test_an_exception_on_the_host_is_an_answer_naming_it_without_a_traceback():
    answer, output = on_host(["_registry_auth"], "login_state", registry=REGISTRY, username="u", surprise=PASSWORD)
    assert answer == {"failed": True, "msg": f"TypeError on {os.uname().nodename}: login_state() got an unexpected "
                                             "keyword argument 'surprise'"}
    assert "Traceback" not in output and PASSWORD not in output

@pytest.mark.parametrize("pipelining", ["True", "False"])
def test_the_action_reads_with_and_without_pipelining_and_sends_the_module_only_to_change(tmp_path, pipelining):
    """Through Ansible (a local connection to this machine): the program goes on python3's standard input with
    pipelining, as a file in Ansible's temporary directory without; either way the answer is the module's, and
    neither the command lines nor the verbose output show the password."""
    ca = "-----CA-----"
    args = {"registry": REGISTRY, "username": "builder", "password": PASSWORD, "config_path": str(tmp_path / "c.json"),
            "ca_cert": ca, "certs_dir": str(tmp_path / "certs.d")}

    def action(*options):
        adhoc = [str(Path(sys.executable).with_name("ansible")), "localhost", "-i", "localhost,", "-c", "local", "-e",
                 f"ansible_python_interpreter={sys.executable}", "-m", "dockyard.fleet.registry_login", "-a",
                 json.dumps(args), "-vvv", *options]
        done = subprocess.run(adhoc, capture_output=True, text=True, check=False, cwd=tmp_path,
                              env={**ansible_env(), "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
                                   "ANSIBLE_PIPELINING": pipelining})
        return json.loads(done.stdout.rsplit(" => ", 1)[1]), done.stdout  # the result comes last

    predicted, output = action("--check", "--diff")
    assert predicted["changed"] and predicted["diff"]["after"] == {REGISTRY: "builder",
                                                                   predicted["ca_path"]: "the registry's CA, mode 0444"}
    assert PASSWORD not in output and ("read.py" in output) == (pipelining == "False")
    assert "Using module file" not in output  # check mode predicts from the read: no module was sent
    (tmp_path / "c.json").write_text(json.dumps({"auths": {REGISTRY: {"auth": encode_auth("builder", PASSWORD)}}}))
    Path(predicted["ca_path"]).parent.mkdir(parents=True)
    Path(predicted["ca_path"]).write_text(ca + "\n")
    os.chmod(predicted["ca_path"], 0o444)
    converged, output = action("--diff")
    assert not converged["changed"] and converged["diff"]["before"] == converged["diff"]["after"]
    assert "Using module file" not in output and PASSWORD not in output  # nothing to change: no module was sent

    (tmp_path / "c.json").write_text("{}")
    args["docker_host"] = str(tmp_path / "no-engine.sock")
    failed, output = action()  # a login to make: the module is sent, and says why it cannot log in
    assert "localhost | FAILED!" in output and "Using module file" in output and PASSWORD not in output
    assert f"Logging in to registry {REGISTRY} as builder on {os.uname().nodename} failed" in failed["msg"]


def test_a_host_without_the_python_it_is_said_to_have_gets_a_message_naming_it(tmp_path):
    adhoc = [str(Path(sys.executable).with_name("ansible")), "localhost", "-i", "localhost,", "-c", "local", "-e",
             "ansible_python_interpreter=/nonexistent/python3", "-m", "dockyard.fleet.engine_info"]
    done = subprocess.run(adhoc, capture_output=True, text=True, check=False, cwd=tmp_path, env=ansible_env())
    assert done.returncode == 2
    assert ("Reading Docker Engine's state with /nonexistent/python3 on localhost failed (rc 127)" in done.stdout
            + done.stderr)
