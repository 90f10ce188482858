# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: read the files a compose file points at, so the stack can be sent whole."""

import os
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: compose_inline
short_description: Read a compose file's secret and config files, keeping the secrets apart
version_added: 1.0.0
author: dockyard developers (@dockyard)
description:
  - Reads, on the control machine, the C(file) of every top-level secret and config, so
    M(dockyard.fleet.stack_deploy) on a manager gets everything in one call. Relative paths are taken from the
    compose file's directory.
  - A config's C(file) becomes its C(content) in the compose file. A secret's content (from C(file) or
    C(content)) goes into the separate C(secrets) result instead, for the
    O(dockyard.fleet.stack_deploy#module:secrets) option, which is never logged; the compose file keeps only the
    secret's name and labels, so it can be logged.
options:
  _input:
    description: The parsed compose file.
    type: dict
    required: true
  base_dir:
    description: Directory of the compose file.
    type: str
    required: true
  variables:
    description:
      - Values for the compose file's C(${VAR}) references, as C(docker stack deploy) takes them from the
        environment; C(${VAR:-default}), C(${VAR-default}), C(${VAR:?message}), C(${VAR?message}) and C($$) work
        as in Compose. An unset variable without a default becomes empty.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Deploy a stack whose secrets live next to its compose file
  dockyard.fleet.stack_deploy:
    name: web
    compose: "{{ stack.compose }}"
    secrets: "{{ stack.secrets }}"
    secret_name_key: "{{ vault_secret_name_key }}"
  vars:
    stack: "{{ lookup('file', compose_file) | from_yaml | dockyard.fleet.compose_inline(compose_file | dirname) }}"
"""

RETURN = r"""
_value:
  description:
    - C(compose) is the compose file with C(content) in place of C(file) for configs, and neither for secrets.
    - C(secrets) maps each secret that is not C(external) to its content.
  type: dict
"""


REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>.*))?$", re.S)


def interpolate(value, variables, where="compose file"):
    """Compose's variable interpolation on every string value (keys are left alone)."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match):
        if match.group("escaped"):
            return "$"
        if match.group("bare"):
            return str(variables.get(match.group("bare"), ""))
        parsed = BRACED.match(match.group("braced"))
        if not parsed:
            raise AnsibleFilterError(f"{where}: invalid interpolation ${{{match.group('braced')}}}")
        name, op, arg = parsed.group("name", "op", "arg")
        current = variables.get(name)
        unset = current is None or ((op or "").startswith(":") and current == "")
        if op and op.endswith("?") and unset:
            raise AnsibleFilterError(f"{where}: {arg or f'variable {name} is not set'}")
        if op and op.endswith("-") and unset:
            return arg
        return "" if current is None else str(current)

    return REFERENCE.sub(substitute, value)


def compose_inline(compose, base_dir, variables=None):
    compose = interpolate(dict(compose), variables or {})
    secrets = {}
    for kind in ("secrets", "configs"):
        objects = {}
        section = compose.get(kind) or {}
        if not isinstance(section, dict) or not all(isinstance(spec or {}, dict) for spec in section.values()):
            raise AnsibleFilterError(f"{kind} must be a mapping of names to their keys (file, content, external, ...)")
        for name, spec in section.items():
            spec = dict(spec or {})
            if "file" in spec:
                path = os.path.join(base_dir, os.path.expanduser(spec.pop("file")))
                try:
                    with open(path, encoding="utf-8") as handle:
                        spec["content"] = handle.read()
                except OSError as exc:
                    raise AnsibleFilterError(f"{kind}.{name}: cannot read {path}: {exc.strerror}") from exc
            if kind == "secrets" and "content" in spec:
                secrets[name] = spec.pop("content")
            objects[name] = spec
        if objects:
            compose[kind] = objects
    return {"compose": compose, "secrets": secrets}


class FilterModule:
    def filters(self):
        return {"compose_inline": compose_inline}
