# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: read the files a compose file points at, so the stack can be sent whole."""

import os
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: compose_inline
short_description: Put the content of a compose file's secret and config files into the compose file
version_added: 1.0.0
author: dockyard developers
description:
  - Reads, on the control machine, the C(file) of every top-level secret and config and replaces it with
    C(content), so M(dockyard.fleet.stack_deploy) on a manager gets everything in one call. Relative paths are
    taken from the compose file's directory.
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
    compose: "{{ lookup('file', compose_file) | from_yaml | dockyard.fleet.compose_inline(compose_file | dirname) }}"
"""

RETURN = r"""
_value:
  description: The compose file with C(content) in place of C(file) for secrets and configs.
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
    result = interpolate(dict(compose), variables or {})
    compose = result
    for kind in ("secrets", "configs"):
        objects = {}
        for name, spec in (compose.get(kind) or {}).items():
            spec = dict(spec or {})
            if "file" in spec:
                path = os.path.join(base_dir, os.path.expanduser(spec.pop("file")))
                try:
                    with open(path, encoding="utf-8") as handle:
                        spec["content"] = handle.read()
                except OSError as exc:
                    raise AnsibleFilterError(f"{kind}.{name}: cannot read {path}: {exc.strerror}") from exc
            objects[name] = spec
        if objects:
            result[kind] = objects
    return result


class FilterModule:
    def filters(self):
        return {"compose_inline": compose_inline}
