# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Docker Engine API client for modules running on target hosts.

It needs nothing but Python's standard library: HTTP/1.1 over the Engine's unix
socket, JSON bodies, and API version negotiation against ``GET /version`` so
that one client works with every Engine from 20.10 (API 1.41) onwards.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from urllib.parse import urlencode

DEFAULT_SOCKET = "/var/run/docker.sock"

# The oldest API the collection is written against (Engine 20.10, Debian 12's
# docker.io) and the newest it knows; the negotiated version is the server's,
# capped at MAX_API_VERSION.
MIN_API_VERSION = "1.41"
MAX_API_VERSION = "1.47"

# Labels dockyard keeps in the swarm: a node's inventory host (so a dead host's node is found without its facts),
# and on the cluster, when it was last rebuilt by `dockyard swarm recover` (two swarms with one ID differ in it).
HOST_LABEL = "dockyard.host"
EPOCH_LABEL = "dockyard.recovered"

# Options every Engine API module takes (documented in doc fragment dockyard.fleet.docker).
COMMON_ARGS = {
    "docker_host": {"type": "str", "default": DEFAULT_SOCKET},
    "api_timeout": {"type": "int", "default": 60},
}


def _version_tuple(version):
    return tuple(int(part) for part in version.split("."))


def negotiate_api_version(server_version, server_min_version=None):
    """Return the API version to speak, or raise DockerError if none fits."""
    if not server_version:
        return MIN_API_VERSION
    chosen = min(_version_tuple(server_version), _version_tuple(MAX_API_VERSION))
    if chosen < _version_tuple(MIN_API_VERSION):
        raise DockerError(
            f"Docker Engine API {server_version} is too old: dockyard needs API {MIN_API_VERSION} "
            "(Docker Engine 20.10) or newer. Upgrade Docker Engine on this host."
        )
    if server_min_version and chosen < _version_tuple(server_min_version):
        raise DockerError(
            f"Docker Engine requires API {server_min_version} or newer, "
            f"but dockyard speaks at most {MAX_API_VERSION}. Upgrade the dockyard collection."
        )
    return ".".join(str(part) for part in chosen)


class DockerError(Exception):
    """A failed Engine API call; ``status`` is the HTTP status (None when unreachable)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class DockerUnreachable(DockerError):
    """The Engine's socket could not be reached at all."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class DockerAPI:
    """Engine API over a unix socket. One connection per request keeps it simple and safe."""

    def __init__(self, socket_path=DEFAULT_SOCKET, timeout=60):
        if socket_path.startswith("unix://"):
            socket_path = socket_path[len("unix://"):]
        self.socket_path = socket_path
        self.timeout = timeout
        self._api_version = None

    # -- transport -------------------------------------------------------
    def _raw(self, method, path, body=None, headers=None, timeout=None):
        conn = _UnixHTTPConnection(self.socket_path, timeout or self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as exc:
            raise DockerUnreachable(
                f"Docker Engine is not answering on {self.socket_path} ({exc}). Is dockerd running? "
                "Check `systemctl status docker` or the daemon log."
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise DockerUnreachable(
                f"Talking to Docker Engine on {self.socket_path} failed during {method} {path}: {exc}"
            ) from exc
        finally:
            conn.close()

    @property
    def api_version(self):
        if self._api_version is None:
            status, data = self._raw("GET", "/version")
            if status != 200:
                raise DockerError(f"GET /version answered HTTP {status}: {_message(data)}", status)
            version = json.loads(data)
            self._api_version = negotiate_api_version(version.get("ApiVersion"), version.get("MinAPIVersion"))
        return self._api_version

    def request(self, method, path, query=None, body=None, expect=(200, 201, 204), timeout=None, headers=None,
                data=None, stream=False):
        """Send one request to the versioned API and return the decoded JSON (or None).

        ``body`` is sent as JSON, ``data`` as raw bytes (with its Content-Type in ``headers``). With ``stream``
        the answer is the Engine's progress stream (build, push, pull): a list of its JSON messages.
        """
        url = f"/v{self.api_version}{path}"
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        status, answer = self._raw(method, url, data, headers, timeout)
        if status not in expect:
            raise DockerError(f"{method} {path} failed with HTTP {status}: {_message(answer)}", status)
        if stream:
            return json_stream(answer)
        if not answer:
            return None
        try:
            return json.loads(answer)
        except ValueError:
            return answer.decode("utf-8", "replace")

    # -- conveniences ------------------------------------------------------
    def get(self, path, **query):
        return self.request("GET", path, query=query or None)

    def find(self, path):
        """GET ``path``, or None when the Engine answers 404 (no such container, image, ...)."""
        try:
            return self.get(path)
        except DockerError as exc:
            if exc.status == 404:
                return None
            raise

    def ping(self):
        status, data = self._raw("GET", "/_ping", timeout=5)
        return status == 200 and data.strip() == b"OK"

    def wait_until_ready(self, timeout, interval=0.5):
        """Wait up to ``timeout`` seconds for the Engine to answer /_ping; raise the last error."""
        def error():
            try:
                return None if self.ping() else DockerError(f"Docker Engine on {self.socket_path} answered /_ping "
                                                            "but not OK")
            except DockerError as exc:
                return exc

        last = wait_for(error, timeout, interval)
        if last:
            raise DockerUnreachable(f"{last} (waited {timeout}s)")

    def version(self):
        return self.get("/version")

    def logs(self, container_id, tail=15):
        """A container's last output lines, stdout and stderr together: the Engine sends them in frames with
        8-byte headers (unless the container has a TTY, when they come as they are)."""
        url = f"/v{self.api_version}/containers/{container_id}/logs?stdout=1&stderr=1&tail={tail}"
        status, raw = self._raw("GET", url)
        if status != 200:
            raise DockerError(f"GET /containers/{container_id}/logs failed with HTTP {status}: {_message(raw)}",
                              status)
        out, position = [], 0
        while position + 8 <= len(raw):
            size = int.from_bytes(raw[position + 4:position + 8], "big")
            out.append(raw[position + 8:position + 8 + size])
            position += 8 + size
        return b"".join(out).decode("utf-8", "replace").strip() or raw.decode("utf-8", "replace").strip()

    def info(self):
        return self.get("/info")


def wait_for(pending, timeout, interval=1.0):
    """Call ``pending()`` - what is still awaited, falsy once nothing is - until it is falsy or ``timeout`` seconds
    have passed; return its last value (falsy: done)."""
    deadline = time.monotonic() + timeout
    while True:
        left = pending()
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(interval)


def or_before_install(module, read, nothing):
    """``read()``; but in check mode, when no Engine answers yet (it is only about to be installed), ``nothing``:
    what check mode then predicts is that everything would be created."""
    try:
        return read()
    except DockerUnreachable:
        if not module.check_mode:
            raise
        return nothing


def client_from_params(params):
    """The client for a module whose argument_spec includes COMMON_ARGS."""
    return DockerAPI(params["docker_host"], params["api_timeout"])


def json_stream(data):
    """The messages of a progress stream: JSON objects one after another, usually one per line."""
    text = data.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    messages, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return messages
        message, position = decoder.raw_decode(text, position)
        messages.append(message)


def stream_error(messages):
    """The error a progress stream ended with, or None: the Engine answers 200 and reports failures in-stream."""
    for message in messages:
        if message.get("error") or message.get("errorDetail"):
            return (message.get("errorDetail") or {}).get("message") or message.get("error")
    return None


def _message(data):
    try:
        return json.loads(data).get("message", "").strip() or data.decode("utf-8", "replace")
    except (ValueError, AttributeError):
        return data.decode("utf-8", "replace").strip()
