# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry credentials as the docker CLI keeps them (~/.docker/config.json), for the Engine API's
X-Registry-Auth header: what `docker login` wrote is what pushes and swarm services use."""

from __future__ import annotations

import base64
import json
import os

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
    username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return username, password


def auth_header(registry, username, password):
    """The X-Registry-Auth value for one registry."""
    payload = json.dumps({"username": username, "password": password, "serveraddress": registry})
    return base64.urlsafe_b64encode(payload.encode()).decode()


def registry_of(image):
    """The registry part of an image reference, or None for Docker Hub."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def headers_for(image, config):
    """Headers that let the Engine (and swarm workers) pull ``image``: empty when nothing is stored for it."""
    registry = registry_of(image)
    found = credentials(config, registry) if registry else None
    return {"X-Registry-Auth": auth_header(registry, *found)} if found else {}
