#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: host_facts
short_description: Read the host's OS, architecture, init system, user and Python with one shell command
description:
  - Sets the facts dockyard's roles and plays use, under the names Ansible's M(ansible.builtin.setup) module gives
    them, from one shell command run over the connection (C(/etc/os-release), C(uname -m), C(id -un), the init
    system, C(/etc/debian_version) and the Python interpreter's version). No module is sent to the host.
  - It replaces fact gathering in dockyard's playbooks. The setup module costs each host a Python start and the import
    of Ansible's fact collectors (about 0.3 s of CPU per host), this about 0.02 s.
  - The facts are C(os_family), C(distribution), C(distribution_version), C(distribution_major_version),
    C(distribution_release), C(architecture), C(service_mgr) (C(systemd) where C(/run/systemd/system) exists, else
    the name of process 1), C(user_id) (the connection's user), C(python) (C(version.major), C(version.minor),
    C(version.micro), C(executable); empty without a Python) and C(python_version).
  - Python is the interpreter C(ansible_python_interpreter) names, or the C(python3) on the PATH where it is left to
    discovery.
  - The host needs only a POSIX shell; a host without Python gets an empty C(python) fact, so a play can say so.
version_added: 1.2.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.attributes.action
attributes:
  action:
    support: full
    details: All of it runs on the control machine, which sends one shell command; no module runs on the host.
  check_mode:
    support: full
    details: It only reads, in check mode too.
  diff_mode:
    support: none
  idempotent:
    support: full
options: {}
notes:
  - Plays that need other facts gather them as usual (M(ansible.builtin.setup)); this module does not mark the host's
    facts as gathered.
"""

EXAMPLES = r"""
- name: Read the facts dockyard uses
  dockyard.fleet.host_facts:

- name: Check the OS
  ansible.builtin.assert:
    that: ansible_facts['os_family'] == 'Debian'
"""

RETURN = r"""
ansible_facts:
  description: The facts read, named as M(ansible.builtin.setup) names them.
  returned: always
  type: dict
  sample:
    os_family: Debian
    distribution: Debian
    distribution_version: "12.5"
    distribution_major_version: "12"
    distribution_release: bookworm
    architecture: x86_64
    service_mgr: systemd
    user_id: root
    python: {version: {major: 3, minor: 11, micro: 2}, executable: /usr/bin/python3}
    python_version: 3.11.2
"""
