# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry's token server: who may pull and who may push.

Distribution (the registry) has no per-account permissions of its own; with `auth: token` it trusts
tokens that name the repositories and actions a client may use. This server checks an account's
password (PBKDF2-SHA256, from the config file) and grants the requested actions that the account
has - `pull` for every host, `pull` and `push` for builders - in a JWT signed ES256 with the key of
the certificate the registry's `rootcertbundle` holds, by OpenSSL (the libcrypto of Python's ssl
module). Python's standard library only: it runs on the registry host under systemd, as a user of
its own that alone can read its directory: token.json, token.key and registry.pem (the registry's
TLS pair).

    registry-token-server.py DIRECTORY
"""

import base64
import ctypes
import hashlib
import hmac
import json
import os
import secrets
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN_SECONDS = 300
# The largest OAuth2 form read (an account, a password and a few scopes fit in far less).
MAX_FORM = 65536
# How long a client may keep the server waiting for its next bytes (the TLS handshake's, a request's).
IDLE_SECONDS = 10


class Signer:
    """ES256 signatures made by OpenSSL (the libcrypto this Python's ssl module runs on: no package to install, and
    no elliptic-curve arithmetic of our own, whose timing could give the key away)."""

    def __init__(self, pem):
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            path = next(line.split()[-1] for line in maps if "/libcrypto.so" in line)
        lib = self.lib = ctypes.CDLL(path)
        pointer = ctypes.c_void_p
        for name, result, arguments in (
                ("BIO_new_mem_buf", pointer, [ctypes.c_char_p, ctypes.c_int]), ("BIO_free", ctypes.c_int, [pointer]),
                ("PEM_read_bio_PrivateKey", pointer, [pointer, pointer, pointer, pointer]),
                ("EVP_sha256", pointer, []), ("EVP_MD_CTX_new", pointer, []), ("EVP_MD_CTX_free", None, [pointer]),
                ("EVP_DigestSignInit", ctypes.c_int, [pointer, pointer, pointer, pointer, pointer]),
                ("EVP_DigestSign", ctypes.c_int, [pointer, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t),
                                                  ctypes.c_char_p, ctypes.c_size_t])):
            function = getattr(lib, name)
            function.restype, function.argtypes = result, arguments
        bio = lib.BIO_new_mem_buf(pem.encode(), len(pem.encode()))
        self.key = lib.PEM_read_bio_PrivateKey(bio, None, None, None)
        lib.BIO_free(bio)
        if not self.key:
            raise ValueError("OpenSSL cannot read the token signing key")

    def sign(self, message):
        """An ECDSA P-256 SHA-256 signature of ``message`` as JWS wants it: r and s, 32 bytes each."""
        lib, context = self.lib, self.lib.EVP_MD_CTX_new()
        try:
            der, size = ctypes.create_string_buffer(80), ctypes.c_size_t(80)
            if (lib.EVP_DigestSignInit(context, None, lib.EVP_sha256(), None, self.key) != 1
                    or lib.EVP_DigestSign(context, der, ctypes.byref(size), message, len(message)) != 1):
                raise ValueError("OpenSSL could not sign the token")
        finally:
            lib.EVP_MD_CTX_free(context)
        r, s = (int.from_bytes(value, "big") for _tag, value in der_items(der_items(der.raw[:size.value])[0][1]))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def der_items(data):
    """(tag, content) of each DER item in ``data``."""
    items, i = [], 0
    while i < len(data):
        tag, length, i = data[i], data[i + 1], i + 2
        if length & 0x80:
            count = length & 0x7F
            length, i = int.from_bytes(data[i:i + count], "big"), i + count
        items.append((tag, data[i:i + length]))
        i += length
    return items


def pem_der(text):
    return base64.b64decode("".join(line for line in text.splitlines() if line and not line.startswith("-----")))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def password_ok(account, password):
    derived = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(account["salt"]),
                                  account["iterations"])
    return hmac.compare_digest(derived.hex(), account["hash"])


def granted(scopes, allowed):
    """The token's `access` claim: of each requested scope (repository:NAME:ACTIONS, or registry:catalog:* for
    the catalog), the actions the account has."""
    access = []
    for scope in " ".join(scopes).split():
        kind, _sep, rest = scope.partition(":")
        name, _sep, actions = rest.rpartition(":")
        given = sorted(set(actions.split(",")) & set(allowed))
        if kind in ("repository", "registry") and name and given:
            access.append({"type": kind, "name": name, "actions": given})
    return access


def token(config, key, user, access, now):
    header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(pem_der(config["cert"])).decode()]}
    claims = {"iss": config["issuer"], "sub": user, "aud": config["service"], "iat": now, "nbf": now - 10,
              "exp": now + TOKEN_SECONDS, "jti": secrets.token_hex(16), "access": access}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


class Handler(BaseHTTPRequestHandler):
    config, key, verified = {}, None, {}
    timeout = IDLE_SECONDS

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        if url.path != "/token":
            return self.not_found()
        user, password = self.basic_auth()
        return self.grant(user, password, parse_qs(url.query).get("scope", []))

    def do_POST(self):  # noqa: N802 - http.server's name
        """The OAuth2 form of the request (containerd's, with a login): grant_type=password, the account in the
        form. Other grants (a refresh token) get 400, on which clients ask again with GET."""
        if urlsplit(self.path).path != "/token":
            return self.not_found()
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(min(length, MAX_FORM)).decode("utf-8", "replace"))
        if form.get("grant_type") != ["password"]:
            return self.answer(400, {"error": "unsupported_grant_type"})
        return self.grant(form.get("username", [""])[0], form.get("password", [""])[0], form.get("scope", []))

    def grant(self, user, password, scopes):
        account = self.config["accounts"].get(user)
        # A verified password is remembered by its hash only, so PBKDF2 runs once per account and password.
        proof = hashlib.sha256(f"{user}\0{password}".encode()).hexdigest()
        if account is None or (self.verified.get(user) != proof and not password_ok(account, password)):
            why = "wrong account or password" if user else "authentication required"
            return self.answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": why}]},
                               {"WWW-Authenticate": 'Basic realm="dockyard registry"'})
        self.verified[user] = proof
        now = int(time.time())
        jwt = token(self.config, self.key, user, granted(scopes, account["actions"]), now)
        return self.answer(200, {"token": jwt, "access_token": jwt, "expires_in": TOKEN_SECONDS,
                                 "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})

    def not_found(self):
        return self.answer(404, {"errors": [{"code": "NOT_FOUND", "message": "only /token is served"}]})

    def basic_auth(self):
        kind, _sep, value = (self.headers.get("Authorization") or "").partition(" ")
        if kind.lower() != "basic":
            return "", ""
        try:
            user, _sep, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", ""
        return user, password

    def answer(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in dict({"Content-Type": "application/json", "Content-Length": str(len(data))},
                                **(headers or {})).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        # The request line names the scope, never the password (it travels in a header or the form).
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


class Server(ThreadingHTTPServer):
    """TLS on each connection, in that connection's own thread. (TLS on the listening socket made accept() do the
    handshake, in the one thread that accepts: a client that connected and sent nothing stopped every login.)"""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, context):
        super().__init__(address, Handler)
        self.context = context

    def finish_request(self, request, client_address):
        request.settimeout(IDLE_SECONDS)
        with self.context.wrap_socket(request, server_side=True) as tls:
            self.RequestHandlerClass(tls, client_address, self)

    def handle_error(self, request, client_address):
        # A client that gave up, timed out or spoke no TLS: one line in the journal, not a traceback.
        sys.stderr.write(f"{client_address[0]} connection dropped: {sys.exc_info()[1]}\n")


def server(directory):
    """The server of token.json, token.key and registry.pem in ``directory``, listening."""
    with open(os.path.join(directory, "token.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    with open(os.path.join(directory, "token.key"), encoding="ascii") as handle:
        Handler.key = Signer(handle.read())
    Handler.config = config
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(os.path.join(directory, "registry.pem"))
    return Server((config["address"], config["port"]), context)


if __name__ == "__main__":
    server(sys.argv[1]).serve_forever()
