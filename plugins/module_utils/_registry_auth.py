# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry credentials as the docker CLI keeps them (~/.docker/config.json), for the Engine API's
X-Registry-Auth header: what `docker login` wrote is what pushes and swarm services use."""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.parse

from ansible.module_utils.urls import open_url

CONFIG_PATH = "~/.docker/config.json"


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
