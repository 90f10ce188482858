# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: read the files a compose file points at, so the stack can be sent whole."""

import os

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


def compose_inline(compose, base_dir):
    result = dict(compose)
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
