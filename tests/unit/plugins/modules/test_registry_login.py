"""registry_login's decision and diff, on this machine's files: the stored login is read from the config file, and
the password is never shown, only said to differ."""

import http.server
import json
import ssl
import threading
import typing

from ansible_collections.dockyard.fleet.plugins.module_utils._registry_auth import encode_auth
from ansible_collections.dockyard.fleet.plugins.plugin_utils._pki import issue

PASSWORD = "planted-password-5e2a"
REGISTRY = "registry.lab:5000"


def login(run_module, tmp_path, password, check=True):
    args = {"registry": REGISTRY, "username": "builder", "password": password,
            "config_path": str(tmp_path / "config.json"), "ca_cert": "-----CA-----",
            "certs_dir": str(tmp_path / "certs.d")}
    return run_module("registry_login", args, check=check)


def test_the_stored_login_and_the_ca_are_compared_and_the_diff_never_holds_a_password(tmp_path, run_module):
    (tmp_path / "config.json").write_text(json.dumps({"auths": {REGISTRY: {"auth": encode_auth("builder", "old")}}}))
    result, output = login(run_module, tmp_path, PASSWORD)
    assert result["changed"] and PASSWORD not in output and "old" not in json.dumps(result["diff"])
    assert result["diff"]["before"] == {REGISTRY: "builder (another password)",
                                        result["ca_path"]: "missing"}
    assert result["diff"]["after"][REGISTRY] == "builder" and not (tmp_path / "certs.d").exists()

    (tmp_path / "config.json").write_text(json.dumps({"auths": {REGISTRY: {"auth": encode_auth("builder",
                                                                                                PASSWORD)}}}))
    login(run_module, tmp_path, PASSWORD, check=False)  # writes the CA only: the login is already stored
    assert (tmp_path / "certs.d" / REGISTRY / "ca.crt").read_text() == "-----CA-----\n"
    again, _ = login(run_module, tmp_path, PASSWORD)
    assert not again["changed"] and again["diff"]["before"] == again["diff"]["after"]



def test_state_absent_removes_the_login_and_the_registrys_ca_only_and_predicts_it(tmp_path, run_module):
    other = {"auth": encode_auth("me", "mine")}
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"other:5000": other, REGISTRY: {
        "auth": encode_auth("builder", PASSWORD)}}, "credsStore": ""}))
    (tmp_path / "certs.d" / REGISTRY).mkdir(parents=True)
    (tmp_path / "certs.d" / REGISTRY / "ca.crt").write_text("-----CA-----\n")
    (tmp_path / "certs.d" / "other:5000").mkdir()
    args = {"registry": REGISTRY, "state": "absent", "config_path": str(tmp_path / "config.json"),
            "certs_dir": str(tmp_path / "certs.d")}
    predicted, _ = run_module("registry_login", args, check=True)
    assert predicted["changed"] and (tmp_path / "certs.d" / REGISTRY).exists()
    ca_dir = str(tmp_path / "certs.d" / REGISTRY)
    assert predicted["diff"] == {"before": {REGISTRY: "builder", ca_dir: "the registry's CA"},
                                 "after": {REGISTRY: None, ca_dir: "missing"}}
    removed, output = run_module("registry_login", args)
    assert removed["changed"] and PASSWORD not in output
    assert json.loads((tmp_path / "config.json").read_text()) == {"auths": {"other:5000": other}, "credsStore": ""}
    assert [p.name for p in (tmp_path / "certs.d").iterdir()] == ["other:5000"]
    again, _ = run_module("registry_login", args)
    assert not again["changed"]

class StartingRegistry(http.server.BaseHTTPRequestHandler):
    """A registry that is starting: its token service answers only from its third request on, then asks for a login
    like the registry (whose answer names it)."""

    asked: typing.ClassVar[list] = []

    def do_GET(self):
        self.asked.append(self.path)
        if self.path == "/token" and self.asked.count("/token") < 3:
            self.connection.close()  # not serving yet: the client sees the connection drop
            return
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Bearer realm="https://127.0.0.1:{self.server.server_port}/token"')
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_starting_registry_and_its_token_service_are_waited_for_over_tls(tmp_path, run_module):
    issued = issue({"ca_dir": str(tmp_path / "pki"), "name": "registry", "common_name": "127.0.0.1",
                    "subject_alt_names": ["IP:127.0.0.1"], "ca_common_name": "test CA", "certificates": None,
                    "usage": "server", "days": 30, "renew_before_days": 1}, check_mode=False, diff=False)
    assert issued["changed"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StartingRegistry)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "pki" / "registry.crt", tmp_path / "pki" / "registry.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    registry = f"127.0.0.1:{server.server_port}"
    (tmp_path / "config.json").write_text(json.dumps({"auths": {registry: {"auth": encode_auth("builder",
                                                                                                PASSWORD)}}}))
    args = {"registry": registry, "username": "builder", "password": PASSWORD, "wait_timeout": 10,
            "config_path": str(tmp_path / "config.json"), "ca_cert": (tmp_path / "pki" / "ca.crt").read_text(),
            "certs_dir": str(tmp_path / "certs.d")}
    try:
        result, _ = run_module("registry_login", args)
        assert not result.get("failed"), result
        assert StartingRegistry.asked == ["/v2/", "/token", "/token", "/token"]
        # Nothing answers on a port that was just closed: the wait ends, naming what did not answer and why.
        server.shutdown()
        server.server_close()
        failed, output = run_module("registry_login", dict(args, wait_timeout=1))
        assert failed["failed"] and PASSWORD not in output
        assert f"registry {registry} to answer: https://{registry}/v2/ did not answer within 1s" in failed["msg"]
        assert "Connection refused" in failed["msg"]
    finally:
        server.server_close()
