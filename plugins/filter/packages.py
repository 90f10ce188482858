# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side helpers for package state read with dpkg-query."""

from fnmatch import fnmatchcase

DOCUMENTATION = r"""
name: packages_to_install
short_description: Which packages an install would change, from dpkg-query output
version_added: 1.0.0
author: dockyard developers (@dockyard)
description:
  - Takes the output of C(dpkg-query --show --showformat '${Package} ${Version} ${db:Status-Abbrev}\n')
    and returns the wanted packages that are not installed, or not at the pinned version.
  - Lets roles predict package changes in check mode on hosts without python3-apt.
options:
  _input:
    description: dpkg-query output, one C(name version status) line per package.
    type: str
    required: true
  wanted:
    description: Package names to look for.
    type: list
    elements: str
    required: true
  version:
    description:
      - Version every wanted package must have, as an apt version glob (V(20.10.24*), V(5:27.3.1-1~debian.12~bookworm));
        the same pattern the role hands to apt as C(name=pattern). Empty accepts any installed version.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Packages the install would change
  ansible.builtin.debug:
    msg: "{{ dpkg.stdout | dockyard.fleet.packages_to_install(['docker.io'], '') }}"
"""

RETURN = r"""
_value:
  description: The wanted packages, in order, that are missing or at another version.
  type: list
  elements: str
"""


def installed_versions(dpkg_output):
    """{package: version} for every package whose status is installed (ii)."""
    versions = {}
    for line in dpkg_output.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[2] == "ii":
            versions[fields[0]] = fields[1]
    return versions


def packages_to_install(dpkg_output, wanted, version=""):
    installed = installed_versions(dpkg_output)
    return [name for name in wanted
            if name not in installed or (version and not fnmatchcase(installed[name], version))]


class FilterModule:
    def filters(self):
        return {"packages_to_install": packages_to_install}
