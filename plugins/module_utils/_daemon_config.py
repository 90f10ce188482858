# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""daemon.json as daemon_config writes it: the settings made from its options, their checks and their text. Shared
with the filter daemon_config_settled, which tells from a read of the host that the module has nothing to do."""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import shlex

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


class ConfigError(Exception):
    pass


def flag_keys(flags):
    """daemon.json keys that the dockerd command line already sets."""
    keys = {}
    for flag in flag_words(flags):
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
    problems.extend(refusals({k: v for k, v in config.items() if k not in allow_keys}, flags))
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


def tcp_hosts(addresses):
    """The API addresses of ``addresses`` that dockerd listens on over TCP: tcp://..., and one without a scheme
    (dockerd trims the spaces around an address and takes one without a scheme for TCP)."""
    stripped = [address.strip() for address in addresses if isinstance(address, str)]
    return [address for address in stripped if address.startswith("tcp://") or (address and "://" not in address)]


def flag_words(flags):
    """dockerd's arguments from flags given one per item or several in one (systemd splits ExecStart as shlex)."""
    return [word for flag in flags for word in shlex.split(flag)]


def flag_values(words, name, short=None):
    """The values dockerd's arguments ``words`` give option ``name`` (--host): --host X, --host=X, -H X, -H=X, -HX."""
    values = []
    for index, word in enumerate(words):
        if word in (name, short) and index + 1 < len(words):
            values.append(words[index + 1])
        elif word.startswith(name + "="):
            values.append(word[len(name) + 1:])
        elif short and word.startswith(short) and word != short:
            values.append(word[len(short):].removeprefix("="))
    return values


def refusals(config, flags=()):
    """What the CIS Docker Benchmark forbids in these settings and dockerd's command-line flags."""
    found = []
    remote = [a for a in config.get("insecure-registries") or [] if isinstance(a, str) and not loopback(a)]
    if remote:
        found.append(f"'insecure-registries' has {', '.join(remote)}: a registry reached without TLS outside this "
                     "machine lets anyone on the way swap images (CIS 2.5); give it a certificate (the registry "
                     "role does), or list insecure-registries in engine_daemon_allow_keys to accept it")
    tcp = tcp_hosts(config.get("hosts") or [])
    words = flag_words(flags)
    tcp_flags = tcp_hosts(flag_values(words, "--host", "-H"))
    verified = config.get("tlsverify") or any(word in ("--tlsverify", "--tlsverify=true") for word in words)
    if tcp and not verified:
        found.append(f"'hosts' has {', '.join(tcp)} without 'tlsverify': anyone who reaches that port is root on "
                     "the host (CIS 2.7); use engine_tls_api for a mutual-TLS API, or list hosts in "
                     "engine_daemon_allow_keys to accept it")
    if tcp_flags and not verified:
        found.append(f"dockerd's flags listen on {', '.join(tcp_flags)} without --tlsverify: anyone who reaches that "
                     "port is root on the host (CIS 2.7); use engine_tls_api for a mutual-TLS API instead")
    if config.get("experimental"):
        found.append("'experimental' is true: experimental features are not for production (CIS 2.18); list "
                     "experimental in engine_daemon_allow_keys to accept it")
    return found


def _type_name(kind):
    return {str: "string", bool: "boolean", int: "number", list: "list", dict: "mapping"}.get(kind, kind.__name__)


def render(config):
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def settled(options, read):
    """Whether daemon_config given ``options`` (its parameters) would change nothing and find no restart pending, from
    ``read``: lines of the host's ``sha256sum`` of the file, dockerd's unit's ``ExecMainStartTimestamp=@EPOCH`` and
    ``stat -c '%Y %n'`` of the files dockerd reads. False whenever that is not certain (the module is then asked):
    the swarm membership is not declared, a setting is refused, the text differs (also only in its form)."""
    if not options.get("swarm_node"):
        return False
    config = desired_config(options["settings"], options["log_max_size"], options["log_max_file"],
                            options["live_restore"], True, options["defaults"])
    try:
        validate(config, options["flags"], True, set(options["allow_keys"]))
    except ConfigError:
        return False
    # No such line: no systemd tells when dockerd started (the module reads its pid file instead).
    digests, mtimes, started = set(), [], False
    for line in read.splitlines():
        first, rest = [*line.split(" ", 1), ""][:2]
        if line.startswith("ExecMainStartTimestamp="):
            value = line.split("=", 1)[1]
            started = int(value[1:]) if value.startswith("@") else None  # None: dockerd does not run
        elif len(first) == 64 and rest.strip() == options["path"]:
            digests.add(first)
        elif first.isdigit():
            mtimes.append(int(first))
    if started is False or digests != {hashlib.sha256(render(config).encode()).hexdigest()}:
        return False
    # As daemon_config's pending_restart: a file written after dockerd started (a second of slack each side).
    return started is None or all(mtime <= started + 2 for mtime in mtimes)
