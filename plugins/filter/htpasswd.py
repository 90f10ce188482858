# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: one bcrypt htpasswd line, the only kind the registry (Distribution) accepts."""

import hashlib
import hmac

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: htpasswd
short_description: A bcrypt htpasswd line for a user, the same on every run
version_added: 1.0.0
author: dockyard developers
description:
  - Returns C(user:$2b$...) for an htpasswd file. The bcrypt salt is derived from the password, the user and
    O(realm) (an HMAC), so the same input gives the same line on every run and a file written from it stays
    unchanged - no read-back from the host is needed to stay idempotent. A different password, user or realm
    gives an unrelated salt.
  - Runs on the control machine with the C(bcrypt) package (a dependency of the dockyard runner).
options:
  _input:
    description: The password.
    type: str
    required: true
  user:
    description: The user name.
    type: str
    required: true
  realm:
    description: Where the line is used (for example the registry address); part of the salt.
    type: str
    required: true
  cost:
    description: bcrypt cost factor.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: The registry's users
  ansible.builtin.copy:
    content: "{{ registry_password | dockyard.fleet.htpasswd(registry_username, registry_endpoint) }}\n"
    dest: /etc/dockyard/registry/htpasswd
    mode: "0600"
  no_log: true
"""

RETURN = r"""
_value:
  description: One htpasswd line, without a newline.
  type: str
"""

# bcrypt's own base64 alphabet.
ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def htpasswd(password, user, realm, cost=10):
    try:
        import bcrypt
    except ImportError as exc:
        raise AnsibleFilterError("the htpasswd filter needs the Python 'bcrypt' package on the control "
                                 "machine (a dependency of the dockyard runner)") from exc
    if not password or ":" in user or not user:
        raise AnsibleFilterError("htpasswd needs a non-empty password and a user name without ':'")
    digest = hmac.new(str(password).encode(), f"{user}\0{realm}".encode(), hashlib.sha256).digest()
    # 22 salt characters carry 128 bits: the last one only uses its two high bits (values 0, 16, 32, 48).
    salt = "".join(ALPHABET[b % 64] for b in digest[:21]) + ALPHABET[(digest[21] % 4) * 16]
    hashed = bcrypt.hashpw(str(password).encode(), f"$2b${cost:02d}${salt}".encode()).decode()
    return f"{user}:{hashed}"


class FilterModule:
    def filters(self):
        return {"htpasswd": htpasswd}
