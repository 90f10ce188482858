import base64
import contextlib
import datetime
import http.server
import importlib.util
import io
import ipaddress
import json
import os
import socket
import ssl
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.dockyard.fleet.plugins.action.image_build import (
    ignore_patterns,
    ignored,
    pack,
    secret_build_args,
)
from ansible_collections.dockyard.fleet.plugins.filter.compose import interpolate
from ansible_collections.dockyard.fleet.plugins.filter.registry_accounts import registry_accounts
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import json_stream, stream_error
from ansible_collections.dockyard.fleet.plugins.module_utils._registry_auth import (
    headers_for,
    registry_of,
    registry_request,
)
from ansible_collections.dockyard.fleet.plugins.modules.image_build import failed_step
from ansible_collections.dockyard.fleet.plugins.plugin_utils import _pki as tls
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from dockyard.runner import extra_vars_files, playbook_argv


def load_token_server():
    spec = importlib.util.spec_from_file_location(
        "token_server", Path(__file__).resolve().parents[3] / "roles" / "registry" / "files" / "token_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_token_servers_es256_signature_verifies_with_the_certificates_key():
    server = load_token_server()
    key = ec.generate_private_key(ec.SECP256R1())
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
        signature = server.Signer(pem).sign(b"header.claims")
        assert len(signature) == 64
        der = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        key.public_key().verify(der, b"header.claims", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(ValueError, match="cannot read the token signing key"):
        server.Signer("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")


def test_no_elliptic_curve_arithmetic_of_our_own_is_left():
    source = (Path(__file__).resolve().parents[3] / "roles" / "registry" / "files" / "token_server.py").read_text()
    for mark in ("0xFFFFFFFF00000001", "def multiply", "def add(", "pow(", "randbelow"):
        assert mark not in source


def test_idle_and_slow_clients_neither_stop_the_token_server_nor_hold_it(tmp_path):
    module = load_token_server()
    module.IDLE_SECONDS = module.Handler.timeout = 2
    key = tls.new_key()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "registry")])
    cert = tls.build(name, name, key.public_key(), key, 1, [(x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)]).public_bytes(serialization.Encoding.PEM)
    (tmp_path / "registry.pem").write_bytes(tls.key_pem(key) + cert)
    (tmp_path / "token.key").write_bytes(tls.key_pem(key))
    (tmp_path / "token.json").write_text(json.dumps({
        "address": "127.0.0.1", "port": 0, "issuer": "dockyard", "service": "127.0.0.1:5000", "cert": cert.decode(),
        "accounts": registry_accounts([{"name": "puller", "password": "pull-pass", "actions": ["pull"]}],
                                      "127.0.0.1:5000", iterations=1000)}))
    server = module.server(str(tmp_path))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]  # TCP, and never a ClientHello
        client = ssl.create_default_context(cadata=cert.decode())
        slow = client.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
        slow.sendall(b"GET /token HTTP/1.1\r\nHost: registry\r\n")  # and the rest never comes
        asked = time.monotonic()
        request = urllib.request.Request(f"https://127.0.0.1:{port}/token?scope=repository:web:pull,push", headers={
            "Authorization": "Basic " + base64.b64encode(b"puller:pull-pass").decode()})
        with urllib.request.urlopen(request, context=client, timeout=5) as answer:
            claims = json.loads(base64.urlsafe_b64decode(json.load(answer)["token"].split(".")[1] + "=="))
        assert time.monotonic() - asked < 5
        assert claims["access"] == [{"type": "repository", "name": "web", "actions": ["pull"]}]
        for connection in (slow, *idle):  # each cut off once it kept the server waiting 2 s
            connection.settimeout(10)
            with contextlib.suppress(ConnectionResetError, ssl.SSLError):
                assert connection.recv(1024) == b""
        assert time.monotonic() - asked < 10
    finally:
        server.shutdown()
        server.server_close()

def test_the_token_grants_only_the_actions_the_account_has():
    server = load_token_server()
    scopes = ["repository:web:pull,push", "repository:shop/api:pull registry:catalog:*"]
    assert server.granted(scopes, ["pull"]) == [{"type": "repository", "name": "web", "actions": ["pull"]},
                                                {"type": "repository", "name": "shop/api", "actions": ["pull"]}]
    assert server.granted(scopes, ["*", "delete", "pull", "push"])[0]["actions"] == ["pull", "push"]
    assert server.granted(scopes, ["*", "pull", "push"])[-1] == {"type": "registry", "name": "catalog",
                                                                 "actions": ["*"]}


def test_registry_accounts_are_the_same_every_run_and_check_only_their_password():
    server = load_token_server()
    accounts = [{"name": "dockyard", "password": "s3cret-password", "actions": ["push", "pull"]}]
    first = registry_accounts(accounts, "10.0.0.1:5000", iterations=1000)
    assert first == registry_accounts(accounts, "10.0.0.1:5000", iterations=1000)
    assert first["dockyard"]["actions"] == ["pull", "push"]
    assert server.password_ok(first["dockyard"], "s3cret-password")
    assert not server.password_ok(first["dockyard"], "other")
    assert registry_accounts(accounts, "10.0.0.2:5000", iterations=1000) != first
    # The salt tells nothing of the password: another password, the same salt (only PBKDF2 tests a guess).
    other = registry_accounts([dict(accounts[0], password="other-password")], "10.0.0.1:5000", iterations=1000)
    assert other["dockyard"]["salt"] == first["dockyard"]["salt"]
    assert other["dockyard"]["hash"] != first["dockyard"]["hash"]
    with pytest.raises(AnsibleFilterError):
        registry_accounts([{"name": "a:b", "password": "x", "actions": []}], "r")


def test_compose_interpolation_follows_compose():
    values = {"REG": "10.0.0.1:5000", "EMPTY": ""}
    assert interpolate({"image": "${REG}/web:1", "n": 3}, values) == {"image": "10.0.0.1:5000/web:1", "n": 3}
    text = "${EMPTY:-dockyard}/web ${EMPTY-kept} $$HOME $REG"
    assert interpolate(text, values) == "dockyard/web  $HOME 10.0.0.1:5000"
    assert interpolate(["${MISSING}"], values) == [""]
    with pytest.raises(AnsibleFilterError, match="set TOKEN first"):
        interpolate({"x": "${TOKEN:?set TOKEN first}"}, values)


def test_context_tar_depends_only_on_names_modes_and_contents(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "run").write_text("#!/bin/sh\n")
    (tmp_path / "secret.env").write_text("TOKEN=x\n")
    (tmp_path / ".dockerignore").write_text("*.env\n")
    first = pack(str(tmp_path))
    os.utime(tmp_path / "app" / "run", (0, 1_000_000))
    assert pack(str(tmp_path)) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        names = sorted(tar.getnames())
    assert names == [".dockerignore", "Dockerfile", "app", "app/run"]
    (tmp_path / "app" / "run").chmod(0o755)
    assert pack(str(tmp_path)) != first


def test_registry_auth_goes_only_to_the_image_registry():
    config = {"auths": {"10.0.0.1:5000": {"auth": base64.b64encode(b"dockyard:pw").decode()}}}
    assert registry_of("10.0.0.1:5000/web:1") == "10.0.0.1:5000"
    assert registry_of("library/busybox") is None and registry_of("busybox") is None
    header = json.loads(base64.urlsafe_b64decode(headers_for("10.0.0.1:5000/web:1", config)["X-Registry-Auth"]))
    assert header == {"username": "dockyard", "password": "pw", "serveraddress": "10.0.0.1:5000"}
    assert headers_for("dockyard/web:1", config) == {}


def test_build_stream_failure_names_the_step_and_keeps_its_output():
    raw = b"".join(json.dumps(m).encode() + b"\r\n" for m in [
        {"stream": "Step 1/2 : FROM base\n"}, {"stream": " ---> 470b3e66df41\n"},
        {"stream": "Step 2/2 : RUN make\n"}, {"stream": " ---> Running in 3816b012b3b4\n"},
        {"stream": "\x1b[91mmake: no rule\n\x1b[0m"},
        {"errorDetail": {"code": 2, "message": "returned a non-zero code: 2"}, "error": "returned a non-zero code: 2"},
    ])
    messages = json_stream(raw)
    error = stream_error(messages)
    assert error == "returned a non-zero code: 2"
    step, output = failed_step(messages, error)
    assert step == "Step 2/2 : RUN make"
    assert output == "make: no rule\nreturned a non-zero code: 2"


def test_extra_vars_reach_ansible_through_private_files_never_argv(tmp_path):
    items = ["a=1 registry_password=hunter2", '{"images_build": []}', "{registry_password: s3cret}", "@vars.yml"]
    files = extra_vars_files(items, tmp_path)
    argv = playbook_argv("site.yml", "inv", extra_vars=files)
    assert not any(secret in " ".join(argv) for secret in ("hunter2", "s3cret", "images_build"))
    assert files[3] == "@vars.yml"
    loaded = [yaml.safe_load(Path(f[1:]).read_text()) for f in files[:3]]
    assert loaded == [{"a": "1", "registry_password": "hunter2"}, {"images_build": []}, {"registry_password": "s3cret"}]
    assert {oct(Path(f[1:]).stat().st_mode & 0o777) for f in files[:3]} == {"0o600"}


def test_server_certificate_is_reissued_only_for_a_reason():
    ca_key = tls.new_key()
    name = tls.x509.Name([tls.x509.NameAttribute(tls.NameOID.COMMON_NAME, "ca")])
    ca = tls.build(name, name, ca_key.public_key(), ca_key, 3650, [])
    key = tls.new_key()
    sans = ["DNS:node1", "IP:10.0.0.1"]
    cert = tls.build(name, ca.subject, key.public_key(), ca_key, 397,
                     [(tls.x509.SubjectAlternativeName(tls.parse_sans(sans)), False)])
    assert tls.reissue_reason(cert, ca, sorted(sans), 30) is None
    assert tls.reissue_reason(cert, ca, ["IP:10.0.0.2"], 30) == "it named DNS:node1, IP:10.0.0.1"
    assert tls.reissue_reason(cert, ca, sorted(sans), 400).startswith("it expires in ")
    other_key = tls.new_key()
    other = tls.build(name, name, other_key.public_key(), other_key, 3650, [])
    assert tls.reissue_reason(cert, other, sorted(sans), 30) == "it was not signed by this CA"
    assert tls.reissue_reason(None, ca, sans, 30) == "it did not exist"
    assert cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC)


def excluded(tmp_path, rules, paths):
    """Which of paths a .dockerignore with these lines leaves out of the context."""
    (tmp_path / ".dockerignore").write_text("\n".join(rules) + "\n")
    patterns = ignore_patterns(str(tmp_path))
    return sorted(p for p in paths if ignored(p, patterns))


@pytest.mark.parametrize(("rules", "paths", "expected"), [
    # The examples of Docker's own .dockerignore documentation.
    (["# comment", "*/temp*"], ["somedir/temporary.txt", "somedir/temp", "temp", "a/b/temp"],
     ["somedir/temp", "somedir/temporary.txt"]),
    (["*/*/temp*"], ["somedir/subdir/temporary.txt", "somedir/temp"], ["somedir/subdir/temporary.txt"]),
    (["temp?"], ["tempa", "tempb", "temp", "dir/tempa"], ["tempa", "tempb"]),
    (["**/*.go"], ["main.go", "cmd/x/main.go", "go.mod"], ["cmd/x/main.go", "main.go"]),
    (["*.md", "!README.md"], ["README.md", "CHANGES.md"], ["CHANGES.md"]),
    (["*.md", "!README*.md", "README-secret.md"], ["README.md", "README-secret.md", "x.md"],
     ["README-secret.md", "x.md"]),
    (["*.md", "README-secret.md", "!README*.md"], ["README.md", "README-secret.md", "x.md"], ["x.md"]),
    # What the home-made matcher got wrong: ** at the root, ./ and / prefixes, directories and what is under them.
    (["**/*.pem"], ["key.pem", "certs/key.pem", "pem"], ["certs/key.pem", "key.pem"]),
    (["./secret.txt", "/private/"], ["secret.txt", "private/a", "sub/secret.txt"], ["private/a", "secret.txt"]),
    (["build", "!build/keep"], ["build/out", "build/keep", "builder"], ["build/out"]),
    (["*.pem"], ["key.pem", "certs/key.pem"], ["key.pem"]),  # * never crosses a /
    (["cert[0-9].pem", "file\\*"], ["cert1.pem", "certx.pem", "file*", "filex"], ["cert1.pem", "file*"]),
])
def test_dockerignore_matches_as_docker_does(tmp_path, rules, paths, expected):
    assert excluded(tmp_path, rules, paths) == expected


def test_excluded_secrets_never_reach_the_build_context(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (tmp_path / "secret.txt").write_text("s3cret\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "tls.pem").write_text("x\n")
    (tmp_path / "app" / "run").write_text("#!/bin/sh\n")
    (tmp_path / ".dockerignore").write_text("**/*.pem\n./secret.txt\n")
    with tarfile.open(fileobj=io.BytesIO(pack(str(tmp_path)))) as tar:
        assert sorted(tar.getnames()) == [".dockerignore", "Dockerfile", "app", "app/run"]


def test_registry_requests_log_in_through_the_token_server_as_the_engine_does():
    seen = []

    class Registry(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            seen.append((self.path, self.headers.get("Authorization")))
            if self.headers.get("Authorization") == "Bearer t0ken":
                self.send_response(200)
                self.send_header("Docker-Content-Digest", "sha256:abc")
            else:
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{port}/token",'
                                                     'service="reg",scope="repository:web:pull"')
            self.end_headers()

        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            good = self.headers.get("Authorization") == "Basic " + base64.b64encode(b"me:pw").decode()
            body = json.dumps({"token": "t0ken"} if good else {}).encode()
            self.send_response(200 if good else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{port}/v2/web/manifests/1"
        headers = registry_request(url, ("me", "pw"), None, method="HEAD")
        assert headers["Docker-Content-Digest"] == "sha256:abc"
        assert [path for path, _ in seen] == ["/v2/web/manifests/1", "/token?service=reg&scope=repository%3Aweb%3Apull",
                                              "/v2/web/manifests/1"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            registry_request(url, ("me", "wrong"), None, method="HEAD")
        assert refused.value.code == 401
    finally:
        server.shutdown()


def test_the_token_server_answers_containerds_oauth2_form_as_it_answers_basic_auth():
    """containerd, given a login, POSTs grant_type=password (docker's GET with Basic auth is its fallback only for
    some statuses): the token server grants the same scopes either way, and refuses a wrong password."""
    server = load_token_server()
    accounts = registry_accounts([{"name": "puller", "password": "s3cret-password", "actions": ["pull"]}], "reg",
                                 iterations=1000)
    key = ec.generate_private_key(ec.SECP256R1())
    server.Handler.config = {"accounts": accounts, "issuer": "dockyard", "service": "reg",
                             "cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}
    server.Handler.key = server.Signer(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()).decode())
    server.Handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), server.Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/token"

    def post(**form):
        request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def access(jwt):
        claims = jwt.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["access"]

    try:
        status, body = post(grant_type="password", username="puller", password="s3cret-password", service="reg",
                            scope="repository:web:pull,push", client_id="containerd-client")
        assert status == 200
        assert access(body["access_token"]) == [{"type": "repository", "name": "web", "actions": ["pull"]}]
        basic = base64.b64encode(b"puller:s3cret-password").decode()
        with urllib.request.urlopen(urllib.request.Request(
                f"{url}?service=reg&scope=repository:web:pull", headers={"Authorization": f"Basic {basic}"}),
                timeout=10) as response:
            assert access(json.load(response)["token"]) == access(body["access_token"])
        assert post(grant_type="password", username="puller", password="wrong", scope="repository:web:pull")[0] == 401
        assert post(grant_type="refresh_token", refresh_token="x") == (400, {"error": "unsupported_grant_type"})
    finally:
        httpd.shutdown()


def test_a_build_arg_that_looks_like_a_secret_is_warned_about_by_name_never_by_value():
    warnings = secret_build_args([{"name": "api", "build_args": {"NPM_TOKEN": "planted-npm-token", "BASE": "x",
                                                                 "DB_PASSWORD": ""}},
                                  {"name": "web", "build_args": {"Release": "1"}}])
    assert len(warnings) == 1 and warnings[0].startswith("api: build_args.NPM_TOKEN looks like a secret")
    assert "planted-npm-token" not in warnings[0]
