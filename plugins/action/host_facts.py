# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_facts: the few facts dockyard's plays use, read with one shell command over the connection (no module)."""

import re
import shlex

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.dockyard.fleet.plugins.plugin_utils import _remote

# Each value on a line of its own after its marker; /etc/os-release's lines come first as they are.
SCRIPT = r"""cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
echo "--arch $(uname -m)"
echo "--user $(id -un)"
if [ -d /run/systemd/system ]; then echo "--init systemd"; else echo "--init $(cat /proc/1/comm 2>/dev/null)"; fi
echo "--debian $(cat /etc/debian_version 2>/dev/null)"
echo "--python $({python} -c 'import sys; print(*sys.version_info[:3], sys.executable)' 2>/dev/null)"
"""

# What a release code name or an architecture may be (an empty one: os-release names none).
NAME = re.compile(r"([a-z0-9][a-z0-9.+_-]*)?")
# os-release IDs (of the host or those it is like) and the OS family Ansible's setup module names for them.
FAMILIES = {"debian": "Debian", "ubuntu": "Debian", "rhel": "RedHat", "fedora": "RedHat", "centos": "RedHat",
            "suse": "Suse", "opensuse": "Suse", "arch": "Archlinux", "alpine": "Alpine"}


def parse(output):
    """The facts, named as Ansible's setup module names them, from the script's output."""
    release, marked = {}, {}
    for line in output.splitlines():
        if line.startswith("--"):
            marker, value = [*line[2:].split(" ", 1), ""][:2]
            marked[marker] = value.strip()
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            release[key.strip()] = " ".join(shlex.split(value)) if value.strip() else ""
    ids = [release.get("ID", "").lower(), *release.get("ID_LIKE", "").lower().split()]
    distribution = release.get("ID", "").capitalize() or "Unknown"
    family = next((FAMILIES[i] for i in ids if i in FAMILIES), distribution)
    # Debian's point release is in /etc/debian_version (12.5); os-release has the major version only.
    version = marked.get("debian", "") if family == "Debian" and distribution == "Debian" else ""
    version = version if version[:1].isdigit() else release.get("VERSION_ID", "")
    facts = {
        "os_family": family,
        "distribution": distribution,
        "distribution_version": version,
        "distribution_major_version": version.split(".")[0],
        "distribution_release": release.get("VERSION_CODENAME") or release.get("UBUNTU_CODENAME", ""),
        "architecture": marked.get("arch", ""),
        "user_id": marked.get("user", ""),
        "service_mgr": marked.get("init", "") or "unknown",
        "python": {},
        "python_version": "",
    }
    python = marked.get("python", "").split(" ", 3)
    if len(python) == 4 and all(part.isdigit() for part in python[:3]):
        major, minor, micro = (int(part) for part in python[:3])
        facts["python"] = {"version": {"major": major, "minor": minor, "micro": micro}, "executable": python[3]}
        facts["python_version"] = f"{major}.{minor}.{micro}"
    return facts


def not_names(facts):
    """Why the release or architecture read is no name, or "". Both name paths on the control machine (the Engine
    bundle's) and go into an apt source's lines: a hostile os-release must not write either."""
    for fact in ("distribution_release", "architecture"):
        if not NAME.fullmatch(facts[fact]):
            return (f"The host's {fact} is {facts[fact]!r} (from its /etc/os-release or uname -m): not the name of a "
                    "release or architecture (lower-case letters, digits, '.', '+', '_', '-'). Nothing was changed; "
                    "repair the host's os-release, or take the host out of the inventory.")
    return ""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if self._task.args:
            raise AnsibleActionFail(f"host_facts takes no options (got {', '.join(sorted(self._task.args))})")
        interpreter = _remote.interpreter(self._templar, task_vars or {})
        read = self._low_level_execute_command(SCRIPT.strip().replace("{python}", shlex.quote(interpreter)),
                                               sudoable=False)
        if read["rc"] != 0:
            raise AnsibleActionFail(
                f"Reading the host's OS, architecture, user, init system and Python with a shell command failed "
                f"(rc {read['rc']}): {read.get('stderr', '').strip() or read.get('stdout', '').strip()}. "
                f"The host needs a POSIX shell for the connection user.")
        facts = parse(read["stdout"])
        if not_names(facts):
            raise AnsibleActionFail(not_names(facts))
        result.update(changed=False, ansible_facts=facts)
        return result
