# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: a password of its own for a purpose, derived one-way from a secret."""

import hashlib
import hmac

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: derived_password
short_description: A password of its own for a purpose, derived one-way from a secret
version_added: 1.1.0
author: dockyard developers (@dockyard)
description:
  - HMAC-SHA256 of the purpose keyed with the secret, as 32 hexadecimal characters. Who holds the result cannot get
    back to the secret; the same secret and purpose give the same password on every run.
  - The registry role derives its pull-only account's password from C(registry_password) this way.
options:
  _input:
    description: The secret to derive from. Never printed.
    type: str
    required: true
  purpose:
    description: What the password is for; each purpose gets a different password.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The pull account's password, from the push account's
  ansible.builtin.set_fact:
    registry_pull_password: "{{ registry_password | dockyard.fleet.derived_password('registry pull account') }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: 32 hexadecimal characters.
  type: str
"""


def derived_password(secret, purpose):
    """A password of its own for ``purpose``, derived one-way from ``secret``: who holds the result cannot get
    back to the secret (HMAC-SHA256)."""
    if not secret:
        raise AnsibleFilterError("derived_password needs a secret to derive from")
    return hmac.new(str(secret).encode(), str(purpose).encode(), hashlib.sha256).hexdigest()[:32]


class FilterModule:
    def filters(self):
        return {"derived_password": derived_password}
