# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: the registry's accounts as its token server checks them."""

import hashlib

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: registry_accounts
short_description: The registry token server's accounts, the same on every run
version_added: 1.1.0
author: dockyard developers (@dockyard)
description:
  - Returns the C(accounts) mapping of the registry's token server - per account a PBKDF2-SHA256 hash of its
    password and the actions it may take (C(pull), or C(pull) and C(push)).
  - The salt is a hash of the account and O(realm), so the same input gives the same mapping on every run and the
    file written from it stays unchanged. It tells nothing of the password (a salt derived from the password would
    let whoever reads the file test guesses at the speed of that derivation, not of PBKDF2's).
options:
  _input:
    description: "A list of accounts, each with C(name), C(password) and C(actions)."
    type: list
    elements: dict
    required: true
  realm:
    description: Where the accounts are used (the registry address); part of the salt.
    type: str
    required: true
  iterations:
    description: PBKDF2 iterations.
    type: int
    default: 100000
"""

EXAMPLES = r"""
- name: The token server's configuration
  ansible.builtin.copy:
    content: >-
      {{ {'accounts': [{'name': 'dockyard', 'password': registry_password, 'actions': ['pull', 'push']}]
          | dockyard.fleet.registry_accounts(registry_endpoint)} | to_json }}
    dest: /etc/dockyard/registry/token.json
    mode: "0600"
  no_log: true
"""

RETURN = r"""
_value:
  description: "Per account name: its C(salt), C(iterations), C(hash) and C(actions)."
  type: dict
"""


def registry_accounts(accounts, realm, iterations=100000):
    result = {}
    for account in accounts:
        name, password = account.get("name"), str(account.get("password") or "")
        if not name or ":" in name or not password:
            raise AnsibleFilterError("registry_accounts needs for each account a name without ':' and a password")
        salt = hashlib.sha256(f"dockyard registry account\0{name}\0{realm}".encode()).digest()[:16]
        derived = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
        result[name] = {"salt": salt.hex(), "iterations": iterations, "hash": derived.hex(),
                        "actions": sorted(account["actions"])}
    return result


class FilterModule:
    def filters(self):
        return {"registry_accounts": registry_accounts}
