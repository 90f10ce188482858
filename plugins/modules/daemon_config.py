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

import difflib
import ipaddress
import json
import os
import tempfile

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._files import write_atomically
from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule

# Every daemon.json key of Docker Engine 20.10 to 27 on Linux, with the JSON type dockerd expects.
SCHEMA = {
    "allow-nondistributable-artifacts": list, "api-cors-header": str, "authorization-plugins": list,
    "bip": str, "bip6": str, "bridge": str, "builder": dict, "cdi-spec-dirs": list, "cgroup-parent": str,
    "containerd": str, "containerd-namespace": str, "containerd-plugins-namespace": str,
    "cpu-rt-period": int, "cpu-rt-runtime": int, "cri-containerd": bool, "data-root": str, "debug": bool,
    "default-address-pools": list, "default-cgroupns-mode": str, "default-gateway": str,
    "default-gateway-v6": str, "default-ipc-mode": str, "default-network-opts": dict, "default-runtime": str,
    "default-shm-size": str, "default-ulimits": dict, "dns": list, "dns-opts": list, "dns-search": list,
    "exec-opts": list, "exec-root": str, "experimental": bool, "features": dict, "fixed-cidr": str,
    "fixed-cidr-v6": str, "group": str, "host-gateway-ip": str, "hosts": list, "icc": bool, "init": bool,
    "init-path": str, "insecure-registries": list, "ip": str, "ip-forward": bool, "ip-masq": bool,
    "ip6tables": bool, "iptables": bool, "ipv6": bool, "labels": list, "live-restore": bool,
    "log-driver": str, "log-format": str, "log-level": str, "log-opts": dict, "max-concurrent-downloads": int,
    "max-concurrent-uploads": int, "max-download-attempts": int, "metrics-addr": str, "min-api-version": str,
    "mtu": int, "no-new-privileges": bool, "node-generic-resources": list, "oom-score-adjust": int,
    "pidfile": str, "proxies": dict, "raw-logs": bool, "registry-mirrors": list, "runtimes": dict,
    "seccomp-profile": str, "selinux-enabled": bool, "shutdown-timeout": int, "storage-driver": str,
    "storage-opts": list, "swarm-default-advertise-addr": str, "tls": bool, "tlscacert": str, "tlscert": str,
    "tlskey": str, "tlsverify": bool, "userland-proxy": bool, "userland-proxy-path": str, "userns-remap": str,
}
REMOVED = {
    "graph": "use data-root",
    "cluster-store": "removed in Docker 23; Swarm mode replaces it",
    "cluster-store-opts": "removed in Docker 23; Swarm mode replaces it",
    "cluster-advertise": "removed in Docker 23; Swarm mode replaces it",
    "disable-legacy-registry": "removed in Docker 17.12",
}
PATHS = ("data-root", "exec-root", "pidfile")
# dockerd flags whose daemon.json key is spelled differently.
FLAG_KEYS = {
    "-H": "hosts", "--host": "hosts", "-D": "debug", "-G": "group", "-l": "log-level", "-b": "bridge",
    "-p": "pidfile", "--label": "labels", "--dns-opt": "dns-opts", "--exec-opt": "exec-opts",
    "--storage-opt": "storage-opts", "--log-opt": "log-opts", "--insecure-registry": "insecure-registries",
    "--registry-mirror": "registry-mirrors", "--add-runtime": "runtimes", "--default-ulimit": "default-ulimits",
    "--authorization-plugin": "authorization-plugins", "--default-address-pool": "default-address-pools",
    "--node-generic-resource": "node-generic-resources", "--cdi-spec-dir": "cdi-spec-dirs",
}
ROTATING_LOG_DRIVERS = ("json-file", "local")
ROTATION_LOG_OPTS = ("max-size", "max-file", "compress")
SWARM_STATES = ("active", "pending", "locked")


class ConfigError(Exception):
    pass


def flag_keys(flags):
    """daemon.json keys that the dockerd command line already sets."""
    keys = {}
    for flag in flags:
        name = flag.split("=", 1)[0]
        if name.startswith("-"):
            keys[FLAG_KEYS.get(name, name.lstrip("-"))] = name
    return keys


def desired_config(settings, log_max_size, log_max_file, live_restore, swarm_node, defaults=None):
    """The user's settings over the given defaults over the safe defaults."""
    config = {"log-driver": "json-file"}
    if live_restore and not swarm_node:
        config["live-restore"] = True
    config.update((key, value) for key, value in (defaults or {}).items() if value not in (None, "", {}, []))
    config.update(settings)
    if config["log-driver"] in ROTATING_LOG_DRIVERS:
        rotation = {}
        if log_max_size:
            rotation["max-size"] = log_max_size
        if log_max_file:
            rotation["max-file"] = str(log_max_file)
        log_opts = dict(rotation, **(config.get("log-opts") or {}))
        if log_opts:
            config["log-opts"] = log_opts
    if isinstance(config.get("log-opts"), dict):
        # dockerd takes log options as strings only; YAML makes `max-file: 3` a number.
        config["log-opts"] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config["log-opts"].items()}
    return config


def validate(config, flags, swarm_node, allow_keys):
    """Raise ConfigError naming every key that dockerd would refuse."""
    problems = []
    flagged = flag_keys(flags)
    for key, value in sorted(config.items()):
        if key in allow_keys:
            continue
        if key in REMOVED:
            problems.append(f"'{key}' is no longer a dockerd setting ({REMOVED[key]})")
            continue
        expected = SCHEMA.get(key)
        if expected is None:
            hint = difflib.get_close_matches(key, SCHEMA, n=1)
            problems.append(f"unknown key '{key}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                            + "; if your dockerd release knows it, list it in allow_keys (engine_daemon_allow_keys)")
            continue
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            problems.append(f"'{key}' must be a {_type_name(expected)}, not {_type_name(type(value))} "
                            f"({json.dumps(value)})")
            continue
        if key in flagged:
            problems.append(f"'{key}' is also set by the dockerd flag {flagged[key]} in its service unit; "
                            "dockerd refuses to start when a setting is in both places")
        if key in PATHS and not value.startswith("/"):
            problems.append(f"'{key}' must be an absolute path, not '{value}'")
    problems.extend(refusals({k: v for k, v in config.items() if k not in allow_keys}))
    if config.get("live-restore") and swarm_node:
        problems.append("'live-restore' is true on a Swarm node; dockerd refuses live-restore in swarm mode. "
                        "Set it to false (or leave it out) for hosts in swarm_managers/swarm_workers")
    driver = config.get("log-driver")
    log_opts = config.get("log-opts") if isinstance(config.get("log-opts"), dict) else {}
    if driver not in ROTATING_LOG_DRIVERS:
        for opt in ROTATION_LOG_OPTS:
            if opt in log_opts:
                problems.append(f"'log-opts' has '{opt}', which log-driver '{driver}' does not take "
                                f"(only {' and '.join(ROTATING_LOG_DRIVERS)} rotate their own logs)")
    if problems:
        raise ConfigError("; ".join(problems))


def loopback(address):
    """Whether a registry address or CIDR (host[:port] or net/len) names only this machine."""
    host = address
    if "/" not in host:
        host = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0] if host.count(":") == 1 else host
        if host == "localhost":
            return True
    try:
        return ipaddress.ip_network(host, strict=False).is_loopback
    except ValueError:
        return False


def refusals(config):
    """What the CIS Docker Benchmark forbids in these settings."""
    found = []
    remote = [a for a in config.get("insecure-registries") or [] if isinstance(a, str) and not loopback(a)]
    if remote:
        found.append(f"'insecure-registries' has {', '.join(remote)}: a registry reached without TLS outside this "
                     "machine lets anyone on the way swap images (CIS 2.5); give it a certificate (the registry "
                     "role does), or list insecure-registries in engine_daemon_allow_keys to accept it")
    tcp = [h for h in config.get("hosts") or [] if isinstance(h, str) and h.startswith("tcp://")]
    if tcp and not config.get("tlsverify"):
        found.append(f"'hosts' has {', '.join(tcp)} without 'tlsverify': anyone who reaches that port is root on "
                     "the host (CIS 2.7); use engine_tls_api for a mutual-TLS API, or list hosts in "
                     "engine_daemon_allow_keys to accept it")
    if config.get("experimental"):
        found.append("'experimental' is true: experimental features are not for production (CIS 2.18); list "
                     "experimental in engine_daemon_allow_keys to accept it")
    return found


def _type_name(kind):
    return {str: "string", bool: "boolean", int: "number", list: "list", dict: "mapping"}.get(kind, kind.__name__)


def render(config):
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


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
