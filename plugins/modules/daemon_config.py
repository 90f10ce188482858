#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: daemon_config
short_description: Manage Docker Engine's daemon.json with safe defaults, validation and a backup
description:
  - Writes the whole of C(/etc/docker/daemon.json) from O(settings) merged over O(defaults) and dockyard's safe
    defaults -- log rotation for the C(json-file) and C(local) log drivers, and C(live-restore) on hosts that are
    not Swarm nodes (dockerd refuses C(live-restore) in swarm mode).
  - Refuses what the CIS Docker Benchmark forbids -- C(insecure-registries) other than loopback (CIS 2.5), C(hosts)
    with a C(tcp://) address without C(tlsverify) (2.7) and C(experimental) (2.18) -- unless the key is in
    O(allow_keys).
  - Validates before writing, so a bad value never reaches the host. Unknown keys (with the closest known key
    as a hint), removed keys, wrong value types, a key also given as a dockerd command-line flag (dockerd refuses
    to start then), log options the chosen log driver does not take, and C(live-restore) on a Swarm node all fail
    with a message naming the key. Where the installed dockerd has C(--validate) (Engine 23 and newer), dockerd
    itself checks the new file too.
  - Compares settings, not text, so reformatting the file by hand is not a change. Writes atomically (a temporary
    file in the same directory, then a rename) and keeps a backup of the previous file for rollback.
  - Does not restart dockerd; the engine role's handlers restart it, wait for it and roll back on failure.
version_added: 1.0.0
author: dockyard developers (@dockyard)
options:
  path:
    description: The daemon configuration file.
    type: path
    default: /etc/docker/daemon.json
  settings:
    description:
      - daemon.json keys and values, exactly as dockerd spells them (C(data-root), C(log-opts), ...).
        They win over the safe defaults.
    type: dict
    default: {}
  defaults:
    description:
      - daemon.json keys and values under O(settings), such as the engine role's CIS hardening (C(icc),
        C(no-new-privileges), C(userland-proxy), C(default-ulimits), C(log-level)). A key whose value is
        null or empty is left out.
    type: dict
    default: {}
  log_max_size:
    description:
      - Default C(max-size) log option when the log driver is C(json-file) or C(local). Empty adds none.
    type: str
    default: 10m
  log_max_file:
    description:
      - Default C(max-file) log option when the log driver is C(json-file) or C(local). V(0) adds none.
    type: int
    default: 3
  live_restore:
    description:
      - Turn C(live-restore) on (containers keep running while dockerd restarts) where the host is not a
        Swarm node. Ignored on Swarm nodes.
    type: bool
    default: true
  swarm_node:
    description:
      - Whether the host is (or is about to become) a Swarm node. When not given, the running Engine is asked;
        a host whose Engine is not running counts as not a Swarm node.
    type: bool
  flags:
    description:
      - The command-line flags dockerd is started with (from its systemd unit), e.g. V([-H, fd://]).
        A setting given both as a flag and in daemon.json is refused, because dockerd will not start that way.
    type: list
    elements: str
    default: []
  allow_keys:
    description:
      - Extra top-level keys to accept without checking, for settings of dockerd releases newer than this
        module knows, or to accept a refused setting knowingly (C(insecure-registries), C(hosts), C(experimental)).
    type: list
    elements: str
    default: []
  backup:
    description: Keep a copy of the previous file (returned as RV(backup_file)) when the file changes.
    type: bool
    default: true
  also_read_by_dockerd:
    description:
      - Other files dockerd reads when it starts (its systemd drop-in). With O(path), they decide
        RV(pending_restart).
    type: list
    elements: path
    default: []
  pid_file:
    description: The running dockerd's pid file.
    type: path
    default: /var/run/docker.pid
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
attributes:
  check_mode:
    support: full
    details: Validates and reports the change and the diff without writing.
  diff_mode:
    support: full
    details: Shows the file before and after, keys sorted.
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Keep Docker's data on /srv and rotate container logs at 50 MB
  dockyard.fleet.daemon_config:
    settings:
      data-root: /srv/docker
      storage-driver: overlay2
    log_max_size: 50m
    flags: [-H, fd://]
  register: daemon_config
  notify: engine restart

- name: A Swarm node sends its logs to journald
  dockyard.fleet.daemon_config:
    settings:
      log-driver: journald
    swarm_node: true
"""

RETURN = r"""
config:
  description: The settings now in the file (or that would be, in check mode).
  returned: always
  type: dict
  sample: {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}, "live-restore": true}
changed_keys:
  description: Top-level keys added, removed or changed.
  returned: always
  type: list
  elements: str
backup_file:
  description: Backup of the previous file; absent when nothing was replaced.
  returned: changed and a previous file existed
  type: str
existed:
  description: Whether the file existed before this run (the rollback removes a file that did not).
  returned: always
  type: bool
pending_restart:
  description:
    - Whether the running dockerd started before the file (or one of O(also_read_by_dockerd)) was last written,
      so it does not run with them yet. True after a run that was killed between writing and restarting; the
      engine role restarts dockerd for it.
  returned: always
  type: bool
validated_by:
  description: C(dockerd) when dockerd --validate checked the file as well as the module's own checks, else C(schema).
  returned: always
  type: str
"""

import json
import os
import re
import tempfile

from ansible_collections.dockyard.fleet.plugins.module_utils._daemon_config import (
    ConfigError,
    desired_config,
    render,
    validate,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._files import write_atomically
from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule

SWARM_STATES = ("active", "pending", "locked")
# A URL with a user and password in it (scheme://user:password@host).
USERINFO = re.compile(r"://[^/\s\"@]+:[^/\s\"@]*@")


def read_current(path):
    """(text, parsed settings or None when the file is missing or not JSON)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None, None
    try:
        parsed = json.loads(text) if text.strip() else {}
    except ValueError:
        parsed = None
    return text, parsed if isinstance(parsed, dict) else None


def detect_swarm_node(module):
    try:
        info = module.api.info()
    except DockerError:
        return False  # no Engine running yet: not a Swarm node
    return (info.get("Swarm") or {}).get("LocalNodeState") in SWARM_STATES


def dockerd_validate(module, text):
    """Let dockerd check the file where it can (--validate, Engine 23+). Returns True when it did."""
    dockerd = module.get_bin_path("dockerd")
    if not dockerd:
        return False
    rc, out, err = module.run_command([dockerd, "--help"])
    if "--validate" not in out + err:
        return False
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(text)
    try:
        rc, out, err = module.run_command([dockerd, "--validate", "--config-file", handle.name])
    finally:
        os.unlink(handle.name)
    if rc != 0:
        raise ConfigError(f"dockerd --validate refused it: {(err or out).strip()}")
    return True


def started_at(pid_file):
    """When the process in pid_file started (seconds since the epoch), or None when it does not run."""
    try:
        with open(pid_file, encoding="ascii") as handle:
            pid = int(handle.read().strip())
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])  # field 22, counted after "pid (comm)"
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def pending_restart(paths, pid_file, slack=2.0):
    """Whether dockerd runs and one of paths was written after it started (boot time has a one-second grain)."""
    started = started_at(pid_file)
    return started is not None and any(os.path.exists(p) and os.stat(p).st_mtime > started + slack for p in paths)


def main():
    module = DockyardModule(
        argument_spec=dict(
            path={"type": "path", "default": "/etc/docker/daemon.json"},
            settings={"type": "dict", "default": {}},
            defaults={"type": "dict", "default": {}},
            log_max_size={"type": "str", "default": "10m"},
            log_max_file={"type": "int", "default": 3},
            live_restore={"type": "bool", "default": True},
            swarm_node={"type": "bool"},
            flags={"type": "list", "elements": "str", "default": []},
            allow_keys={"type": "list", "elements": "str", "default": [], "no_log": False},
            backup={"type": "bool", "default": True},
            also_read_by_dockerd={"type": "list", "elements": "path", "default": []},
            pid_file={"type": "path", "default": "/var/run/docker.pid"},
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"]
    host = module.host
    swarm_node = params["swarm_node"]
    if swarm_node is None:
        swarm_node = detect_swarm_node(module)

    config = desired_config(params["settings"], params["log_max_size"], params["log_max_file"],
                            params["live_restore"], swarm_node, params["defaults"])
    text = render(config)
    if USERINFO.search(text):
        module.warn(f"{path} on {host} gets a URL with a user and password (a proxy in 'proxies'?): Ansible logs this "
                    "module's settings on the host, and daemon.json is readable by every user. Give a proxy with "
                    "engine_http_proxy/engine_https_proxy (a 0600 drop-in) instead.")
    try:
        validate(config, params["flags"], swarm_node, set(params["allow_keys"]))
        current_text, current = read_current(path)
        changed = current != config
        validated_by = "dockerd" if changed and dockerd_validate(module, text) else "schema"
    except ConfigError as exc:
        module.fail_json(msg=f"Refused to write {path} on {host}: {exc}. Nothing was changed; fix the engine "
                             "settings (engine_daemon_config and related engine_* variables) and run again.",
                         config=config)

    before = current or {}
    changed_keys = sorted(key for key in set(before) | set(config) if before.get(key) != config.get(key))
    result = {"changed": changed, "config": config, "changed_keys": changed_keys,
              "existed": current_text is not None, "validated_by": validated_by,
              "pending_restart": pending_restart([path, *params["also_read_by_dockerd"]], params["pid_file"])}
    if module._diff:
        result["diff"] = {"before": current_text or "", "after": text,
                          "before_header": path, "after_header": path}
    if changed and not module.check_mode:
        try:
            if params["backup"] and current_text is not None:
                result["backup_file"] = module.backup_local(path)
            write_atomically(path, text, 0o644)
        except OSError as exc:
            module.fail_json(msg=f"Writing {path} on {host} failed: {exc}. The previous file is unchanged.",
                             **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
