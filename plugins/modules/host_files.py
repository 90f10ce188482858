#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: host_files
short_description: Reconcile a set of directories and whole files on the host in one call
description:
  - Each entry is a directory, or a file with its whole content, and the owner, group and mode it must have.
    Entries are handled in order, so a directory listed first exists before the files listed in it.
  - One round trip for what would otherwise be a loop of M(ansible.builtin.file), M(ansible.builtin.copy) and
    M(ansible.builtin.template) tasks; a converged set is only read.
  - A file is written whole or not at all (a temporary file in the same directory, renamed over the old one).
  - The content of a file named in O(secrets) is never logged, shown in the diff or returned.
  - The system users in O(system_users) are made first where the host does not have them, so entries can be
    owned by them.
  - The systemd units in O(services) run from these files; after the files, each is enabled and running, and
    restarted when a file it reads changed. A converged unit is only read (one C(systemctl show) for all).
version_added: 1.0.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
options:
  files:
    description: The directories and files, in the order they are made.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      state:
        description: V(directory), or V(file) with O(files[].content) or its content in O(secrets).
        type: str
        choices: [file, directory]
        default: file
      content:
        description: The whole content of a file, shown in the diff. Leave it out for a file in O(secrets).
        type: str
      owner:
        description: User name that must own it.
        type: str
        default: root
      group:
        description: Group name that must own it.
        type: str
        default: root
      mode:
        description: Octal permission bits, as a string (V("0600")).
        type: str
        required: true
  secrets:
    description:
      - The whole content of each file that holds a secret (a key, password hashes), by its path in O(files).
      - A parameter of its own because Ansible leaves out of the host's log only whole parameters marked no_log.
    type: dict
    default: {}
  system_users:
    description:
      - System users (with a group of the same name, no login shell, no home) that own entries. Those the host
        lacks are made (C(useradd --system)) after every entry was checked and before the first entry changes;
        an existing user is left as it is.
    type: list
    elements: str
    default: []
  services:
    description:
      - systemd units that run from these files, each enabled and running after the files are in place. systemd
        reloads its units first when a changed entry is a unit file (under C(/etc/systemd/system)).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The unit's name, such as V(token.service).
        type: str
        required: true
      restart_on:
        description: Paths of O(files) the unit reads at start; when one of them changes, the unit is restarted.
        type: list
        elements: path
        default: []
attributes:
  check_mode:
    support: full
    details: Check mode reports exactly which entries would change, and how, and changes nothing.
  diff_mode:
    support: full
    details: One diff per changed entry; a secret file's content is replaced by its size.
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: The token server's directory and files
  dockyard.fleet.host_files:
    system_users: [token]
    files:
      - {path: /var/lib/token, state: directory, owner: token, mode: "0700"}
      - {path: /var/lib/token/token.json, owner: token, mode: "0600"}
      - {path: /etc/systemd/system/token.service, content: "{{ lookup('template', 'token.service.j2') }}",
         mode: "0644"}
    secrets:
      /var/lib/token/token.json: "{{ accounts | to_json }}\n"
    services:
      - {name: token.service, restart_on: [/etc/systemd/system/token.service, /var/lib/token/token.json]}
"""

RETURN = r"""
users_added:
  description: The users of O(system_users) that were made (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [dockyard-registry-token]
files:
  description:
    - Per entry, in order, its path, whether it changed and, for a file, a checksum that changes with its content
      (as O(services[].restart_on) or a container's restart_on use it).
    - The SHA-1 of its content; for a file in O(secrets), a hash of its inode, time and size, which changes each
      time the file is written (a hash of a secret would let whoever reads the result test guesses of it).
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/registry/config.yml, changed: true, checksum: 5bd3f1a4b0c9e1f7c2a6d8e0f4b2c1a3d5e7f9b1}]
services:
  description: Per unit of O(services), in order, its name, whether it changed and what was done to it.
  returned: always
  type: list
  elements: dict
  sample: [{name: token.service, changed: true, actions: [enable, restart]}]
"""

import grp
import hashlib
import os
import pwd
import stat

from ansible_collections.dockyard.fleet.plugins.module_utils._files import write_atomically
from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule


def ids(module, entry, predicting):
    """The uid and gid of an entry's owner and group; None for a name the host does not have yet (in check mode, or
    before the system users are made)."""
    try:
        uid = pwd.getpwnam(entry["owner"]).pw_uid
        gid = grp.getgrnam(entry["group"]).gr_gid
    except KeyError:
        if predicting:
            return None, None
        module.fail_json(msg=f"{entry['path']}: the host has no user {entry['owner']!r} or group {entry['group']!r}; "
                             "create them before this task.")
    return uid, gid


def differences(current, old, wanted_mode, uid, gid, data):
    """What differs between the entry and what is on the host (current: an os.stat result or None; old: the file's
    content when the entry is a file that exists)."""
    if current is None:
        return ["missing"]
    found = ["content"] if data is not None and old != data else []
    if stat.S_IMODE(current.st_mode) != wanted_mode:
        found.append(f"mode {stat.S_IMODE(current.st_mode):04o}")
    if uid is None or (current.st_uid, current.st_gid) != (uid, gid):
        found.append(f"owner {current.st_uid}:{current.st_gid}")
    return found


def missing_users(names):
    missing = []
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            missing.append(name)
    return missing


def inspect(module, entry, secrets, predicting):
    """What one entry changes: its row for the result, its diff (None when unchanged) and the change to make."""
    path, secret = entry["path"], entry["path"] in secrets
    text = secrets[path] if secret else entry["content"]
    if entry["state"] == "file" and text is None:
        module.fail_json(msg=f"{path}: a file needs its content, in content or in secrets.")
    data = None if entry["state"] == "directory" else text.encode()
    try:
        mode = int(entry["mode"], 8)
    except ValueError:
        module.fail_json(msg=f"{path}: mode {entry['mode']!r} is not octal permission bits such as \"0600\".")
    uid, gid = ids(module, entry, predicting)
    try:
        current = os.lstat(path)
    except FileNotFoundError:
        current = None
    if current is not None and stat.S_ISDIR(current.st_mode) != (data is None):
        module.fail_json(msg=f"{path} is {'a directory' if data is not None else 'not a directory'} on this host, "
                             f"where dockyard keeps a {entry['state']}; move it away and run again.")
    old = None
    if current is not None and data is not None:
        with open(path, "rb") as handle:
            old = handle.read()
    found = differences(current, old, mode, uid, gid, data)
    row = {"path": path, "changed": bool(found)}
    if data is not None:
        row["checksum"] = (hashlib.sha1(data).hexdigest() if not secret else "(to be written)" if found
                           else written(current))
    if not found:
        return row, None, None
    rewrite = data is not None and ("content" in found or current is None)
    wanted = f"{entry['owner']}:{entry['group']} {entry['mode']}"
    diff = {"before_header": f"{path} ({', '.join(found)})", "after_header": f"{path} ({wanted})",
            "before": "", "after": f"directory {wanted}\n" if data is None else ""}
    if rewrite and secret:
        diff["before"] = "" if current is None else "(secret)\n"
        diff["after"] = f"(secret, {len(data)} bytes)\n"
    elif rewrite:
        diff["before"] = "" if old is None else old.decode("utf-8", errors="replace")
        diff["after"] = text
    elif current is not None:
        diff["before"], diff["after"] = ", ".join(found) + "\n", wanted + "\n"
    return row, diff, (path, data is None, data if rewrite else None, mode, uid, gid)


def written(info):
    """A secret file's checksum: one that changes each time the file is written, as a hash of its content would, but
    that tests no guess of the content (the file's inode, time and size)."""
    return hashlib.sha1(f"{info.st_ino} {info.st_mtime_ns} {info.st_size}".encode()).hexdigest()


def apply(path, directory, data, mode, uid, gid):
    """Make a directory, write a file whole (data), or set the mode and owner of either."""
    if data is not None:
        write_atomically(path, data, mode, owner=(uid, gid))
        return
    if directory:
        os.makedirs(path, mode=mode, exist_ok=True)
    os.chmod(path, mode)
    os.chown(path, uid, gid)


UNIT_DIR = "/etc/systemd/system/"


def unit_states(module, names):
    """Each unit's (UnitFileState, ActiveState), read with one systemctl call."""
    if not names:
        return {}
    command = ["systemctl", "show", "--property=Id,UnitFileState,ActiveState", "--", *names]
    rc, out, err = module.run_command(command)
    if rc:
        module.fail_json(msg=f"Reading the state of {', '.join(names)} failed ({' '.join(command)}: {err.strip()}). "
                             "Is this host running systemd?")
    blocks = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line) for block in out.split("\n\n")]
    return {name: (block.get("UnitFileState", ""), block.get("ActiveState", "")) for name, block in zip(names, blocks)}


def service_actions(services, states, changed_paths):
    """What each unit needs after the files changed: enable, and restart (a file it reads changed) or start."""
    planned = []
    for service in services:
        enabled, active = states[service["name"]]
        actions = [] if enabled == "enabled" else ["enable"]
        if changed_paths & set(service["restart_on"]):
            actions.append("restart")
        elif active != "active":
            actions.append("start")
        planned.append({"name": service["name"], "changed": bool(actions), "actions": actions})
    return planned


def run_services(module, planned, reload):
    for command in ([["systemctl", "daemon-reload"]] if reload else []) + [
            ["systemctl", action, "--", service["name"]] for service in planned for action in service["actions"]]:
        rc, _out, err = module.run_command(command)
        if rc:
            module.fail_json(msg=f"{' '.join(command)} failed: {err.strip()}. The files are in place; see "
                                 f"`journalctl --unit {command[-1]}` on this host for why the unit did not start.")


def main():
    module = DockyardModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "required": True, "options": {
                "path": {"type": "path", "required": True},
                "state": {"type": "str", "choices": ["file", "directory"], "default": "file"},
                "content": {"type": "str"},
                "owner": {"type": "str", "default": "root"},
                "group": {"type": "str", "default": "root"},
                "mode": {"type": "str", "required": True},
            }},
            "secrets": {"type": "dict", "default": {}, "no_log": True},
            "system_users": {"type": "list", "elements": "str", "default": []},
            "services": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True},
                "restart_on": {"type": "list", "elements": "path", "default": []},
            }},
        },
        engine=False,
        supports_check_mode=True,
    )
    secrets = module.params["secrets"]
    for entry in module.params["files"]:
        if entry["path"] in secrets and entry["content"] is not None:
            module.fail_json(msg=f"{entry['path']} has content and is in secrets; give it one of them.")
    # Every entry is read and checked before the first change, so a bad entry leaves the host as it was.
    users = missing_users(module.params["system_users"])
    plan = [inspect(module, entry, secrets, module.check_mode or bool(users)) for entry in module.params["files"]]
    if users and not module.check_mode:
        for name in users:
            command = ["useradd", "--system", "--user-group", "--shell", "/usr/sbin/nologin", "--no-create-home",
                       "--home-dir", "/nonexistent", name]
            rc, _out, err = module.run_command(command)
            if rc:
                module.fail_json(msg=f"Making the system user {name} failed ({' '.join(command)}: {err.strip()}); "
                                     "no entry was changed.")
        plan = [inspect(module, entry, secrets, False) for entry in module.params["files"]]
    for _row, _diff, change in plan:
        if change and not module.check_mode:
            try:
                apply(*change)
            except OSError as error:
                module.fail_json(msg=f"Could not make {change[0]} on this host: {error}. Check that its parent "
                                     "directory exists (list that first) and the file system is writable.")
    rows = [row for row, _diff, _change in plan]
    for row in rows:
        if row["path"] in secrets and row["changed"] and not module.check_mode:
            row["checksum"] = written(os.stat(row["path"]))
    diffs = [diff for _row, diff, _change in plan if diff]
    changed_paths = {row["path"] for row in rows if row["changed"]}
    services = module.params["services"]
    planned = service_actions(services, unit_states(module, [s["name"] for s in services]), changed_paths)
    if not module.check_mode:
        run_services(module, planned, reload=any(path.startswith(UNIT_DIR) for path in changed_paths))
    result = {"changed": bool(users) or bool(changed_paths) or any(s["changed"] for s in planned), "files": rows,
              "users_added": users, "services": planned}
    if module._diff:
        result["diff"] = [{"before_header": f"user {name}", "after_header": f"user {name}", "before": "",
                           "after": f"system user {name}\n"} for name in users] + diffs + [
            {"before_header": f"unit {s['name']}", "after_header": f"unit {s['name']}", "before": "",
             "after": " and ".join(s["actions"]) + "\n"} for s in planned if s["changed"]]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
