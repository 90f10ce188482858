# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry credentials as the docker CLI keeps them (~/.docker/config.json), for the Engine API's
X-Registry-Auth header: what `docker login` wrote is what pushes and swarm services use.

All but registry_request use the standard library alone: login_state runs on hosts without Ansible's module
framework (plugin_utils._remote)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import stat
import urllib.error
import urllib.parse

CONFIG_PATH = "~/.docker/config.json"

# registry_login's options (its action plugin checks them before the read, the module before a change).
LOGIN_ARGS = {
    "registry": {"type": "str", "required": True},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "config_path": {"type": "path", "default": CONFIG_PATH},
    "ca_cert": {"type": "str"},
    "certs_dir": {"type": "path", "default": "/etc/docker/certs.d"},
    "wait_timeout": {"type": "int", "default": 0},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}
LOGIN_REQUIRED_IF = [("state", "present", ("username", "password"))]


def config_path(path=CONFIG_PATH):
    return os.path.expanduser(path)


def read_config(path=CONFIG_PATH):
    """The CLI config as a dict; {} when there is none. A file that is not JSON raises ValueError."""
    try:
        with open(config_path(path), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def encode_auth(username, password):
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def credentials(config, registry):
    """(username, password) stored for ``registry``, or None."""
    entry = (config.get("auths") or {}).get(registry) or {}
    if not entry.get("auth"):
        return None
    username, _sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return username, password


def auth_header(registry, username, password):
    """The X-Registry-Auth value for one registry."""
    payload = json.dumps({"username": username, "password": password, "serveraddress": registry})
    return base64.urlsafe_b64encode(payload.encode()).decode()


def registry_of(image):
    """The registry part of an image reference, or None for Docker Hub."""
    first, slash, _rest = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def headers_for(image, config):
    """Headers that let the Engine (and swarm workers) pull ``image``: empty when nothing is stored for it."""
    registry = registry_of(image)
    found = credentials(config, registry) if registry else None
    return {"X-Registry-Auth": auth_header(registry, *found)} if found else {}


def challenge(header):
    """(scheme, {param: value}) of a WWW-Authenticate header such as ``Bearer realm="...",service="..."``."""
    scheme, _sep, rest = (header or "").partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def registry_request(url, login, ca_path, method="GET", headers=None, timeout=30):
    """The answer's headers to a registry API request, logging in as the Engine does: asked without credentials
    first, then - on a 401 - with a token from the registry's token server (Bearer) or with the login itself
    (Basic). The server's certificate is checked against ca_path (None: the system's CAs). HTTP errors are
    raised as urllib's HTTPError."""
    from ansible.module_utils.urls import open_url  # here: the rest of this file runs without Ansible on hosts

    def get(address, request_method, request_headers):
        return open_url(address, method=request_method, headers=request_headers, timeout=timeout, ca_path=ca_path,
                        use_netrc=False)

    def ask(authorization=None):
        request_headers = dict(headers or {}, **({"Authorization": authorization} if authorization else {}))
        with get(url, method, request_headers) as answer:
            return answer.headers

    try:
        return ask()
    except urllib.error.HTTPError as exc:
        if exc.code != 401 or not login:
            raise
        scheme, params = challenge(exc.headers.get("WWW-Authenticate"))
    basic = "Basic " + base64.b64encode(":".join(login).encode()).decode()
    if scheme != "bearer":
        return ask(basic)
    query = urllib.parse.urlencode({k: v for k, v in params.items() if k in ("service", "scope")})
    with get(f"{params['realm']}?{query}", "GET", {"Authorization": basic}) as answer:
        token = json.load(answer)
    return ask("Bearer " + (token.get("token") or token["access_token"]))


def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def password_proof(password, salt):
    """What stands for a password sent to a host to be compared: a salted SHA-256 of it."""
    return hashlib.sha256(f"{salt}\0{password}".encode()).hexdigest()


def login_state(registry, username=None, password=None, config_path=CONFIG_PATH, ca_cert=None,
                certs_dir="/etc/docker/certs.d", state="present", proof=None, salt=""):
    """What registry_login finds on the host, as its diff: the login stored for ``registry`` (the user, never a
    password: a different one is only said to differ) and, with ``ca_cert``, the CA in certs.d; for ``state``
    absent, the login and the registry's certs.d directory. Or ``{"failed": True, "msg": ...}``. The password is
    given as itself or, by the read sent as a program, as its ``proof``."""
    path = os.path.expanduser(config_path)
    try:
        stored = credentials(read_config(path), registry)
    except ValueError as exc:
        return {"failed": True, "msg": f"{path} on {os.uname().nodename} is not valid JSON ({exc}); fix or remove "
                                       "it, then run again."}
    if state == "absent":
        ca_dir = os.path.join(os.path.expanduser(certs_dir), registry)
        return {"config_path": path, "ca_path": ca_dir,
                "before": {registry: stored and stored[0], ca_dir: "the registry's CA" if os.path.isdir(ca_dir)
                           else "missing"},
                "after": {registry: None, ca_dir: "missing"}}
    same = stored and (stored[1] == password if proof is None
                       else hmac.compare_digest(password_proof(stored[1], salt), proof))
    state = {"config_path": path,
             "before": {registry: stored and stored[0] + ("" if same else " (another password)")},
             "after": {registry: username}}
    if ca_cert is not None:
        ca_path = state["ca_path"] = os.path.join(os.path.expanduser(certs_dir), registry, "ca.crt")
        installed = read_text(ca_path)
        # CIS 3.8: registry certificates are 0444; an older run's 0644 copy is rewritten too.
        wanted = state["after"][ca_path] = "the registry's CA, mode 0444"
        state["before"][ca_path] = (
            "missing" if installed is None else "another CA" if installed != ca_cert.strip() + "\n"
            else wanted if stat.S_IMODE(os.stat(ca_path).st_mode) == 0o444 else "the CA, mode 0644")
    return state
