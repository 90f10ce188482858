#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: engine_audit
short_description: Audit a Docker host against the CIS Docker Benchmark v1.6.0, reading only
description:
  - Reads, in one call, what the CIS Docker Benchmark v1.6.0 checks that is readable from the host itself --
    auditd's watches (1.1.x), dockerd's effective configuration (2.x - daemon.json, its command line, the Engine's
    /info and default bridge), the ownership and permissions of Docker's files (3.x), the running containers
    (5.x; those created but not started too) and, on managers, the swarm (7.x) -- and returns one row per check
    with its CIS number.
  - Each row is V(PASS), V(WARN) (the host does not meet the recommendation) or V(INFO) (not applicable here, a
    manual or Level 2 recommendation, or something the host cannot have), always with a reason.
  - Changes nothing, so check mode runs it as usual.
version_added: 1.1.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
  - dockyard.fleet.docker.info_module
options:
  swarm_expected:
    description: Whether the inventory makes this host a swarm node (CIS 7.1 warns about a swarm nobody asked for).
    type: bool
    default: false
  daemon_json:
    description: dockerd's configuration file.
    type: path
    default: /etc/docker/daemon.json
"""

EXAMPLES = r"""
- name: Audit every Docker host
  dockyard.fleet.engine_audit:
    swarm_expected: "{{ inventory_hostname in groups['swarm_managers'] + groups['swarm_workers'] }}"
  register: audit

- name: Fail on any warning
  ansible.builtin.assert:
    that: audit.summary.WARN == 0
"""

RETURN = r"""
checks:
  description: One row per check, in CIS order.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "2.2", "title": "Network traffic is restricted between containers on the default bridge",
            "status": "PASS", "reason": "icc is false"}]
summary:
  description: How many checks ended PASS, WARN and INFO.
  returned: always
  type: dict
  sample: {"PASS": 40, "WARN": 0, "INFO": 21}
"""

import grp
import http.client
import json
import os
import pwd
import socket
import stat

from ansible_collections.dockyard.fleet.plugins.module_utils._daemon_config import flag_values, tcp_hosts
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._kernel import esp_missing, listening_sockets
from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule

PASS = "PASS"
WARN = "WARN"
INFO = "INFO"

# 1.1.x: what auditd should watch (the first of several paths that exists is the one checked).
AUDITED = [
    ("1.1.3", "the Docker daemon", ["/usr/bin/dockerd", "/usr/sbin/dockerd"]),
    ("1.1.4", "/run/containerd", ["/run/containerd"]),
    ("1.1.5", "/var/lib/docker", ["/var/lib/docker"]),
    ("1.1.6", "/etc/docker", ["/etc/docker"]),
    ("1.1.7", "docker.service", ["/lib/systemd/system/docker.service", "/usr/lib/systemd/system/docker.service"]),
    ("1.1.8", "containerd.sock", ["/run/containerd/containerd.sock"]),
    ("1.1.9", "docker.socket", ["/lib/systemd/system/docker.socket", "/usr/lib/systemd/system/docker.socket"]),
    ("1.1.10", "/etc/default/docker", ["/etc/default/docker"]),
    ("1.1.11", "/etc/docker/daemon.json", ["/etc/docker/daemon.json"]),
    ("1.1.12", "/etc/containerd/config.toml", ["/etc/containerd/config.toml"]),
    ("1.1.14", "containerd", ["/usr/bin/containerd", "/usr/sbin/containerd"]),
    ("1.1.17", "containerd-shim-runc-v2", ["/usr/bin/containerd-shim-runc-v2", "/usr/sbin/containerd-shim-runc-v2"]),
    ("1.1.18", "runc", ["/usr/bin/runc", "/usr/sbin/runc"]),
]
# 3.x: (ownership id, permissions id, what, candidate paths, owner, group, most permissive mode).
FILES = [
    ("3.1", "3.2", "docker.service", AUDITED[4][2], "root", "root", 0o644),
    ("3.3", "3.4", "docker.socket", AUDITED[6][2], "root", "root", 0o644),
    ("3.5", "3.6", "/etc/docker", ["/etc/docker"], "root", "root", 0o755),
    ("3.15", "3.16", "the Docker socket", ["/var/run/docker.sock"], "root", "docker", 0o660),
    ("3.17", "3.18", "daemon.json", ["/etc/docker/daemon.json"], "root", "root", 0o644),
    ("3.19", "3.20", "/etc/default/docker", ["/etc/default/docker"], "root", "root", 0o644),
    ("3.23", "3.24", "the containerd socket", ["/run/containerd/containerd.sock"], "root", "root", 0o660),
]
# 3.9-3.14: daemon.json key of a TLS file, ownership id, permissions id, what, most permissive mode.
TLS_FILES = [("tlscacert", "3.9", "3.10", "the TLS CA certificate", 0o444),
             ("tlscert", "3.11", "3.12", "the server certificate", 0o444),
             ("tlskey", "3.13", "3.14", "the server key", 0o400)]
SENSITIVE = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
REMOTE_LOG_DRIVERS = ("syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries")
SWARM_PORT = 2377
# What dockerd listens on over TCP that is not its API: the swarm's control plane (mutual TLS) and gossip.
SWARM_PORTS = (SWARM_PORT, 7946)
# 5.x looks at the containers that run and those that are set to (created, not started yet): exited ones, such as a
# swarm's task history, are left out.
LIVE = ("created", "running", "restarting", "paused")


def row(cis_id, title, status, reason):
    return {"id": cis_id, "title": title, "status": status, "reason": reason}


def effective_settings(daemon_json, argv):
    """daemon.json with dockerd's command-line flags over it (--key=value, --key value, --key; -H as dockerd reads
    it, in each of its spellings)."""
    settings = dict(daemon_json)
    hosts = flag_values(argv, "--host", "-H")
    if hosts:
        settings["hosts"] = list(settings.get("hosts") or []) + hosts
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("--") or arg.startswith("--host"):
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        name = {"insecure-registry": "insecure-registries"}.get(name, name)
        if name == "insecure-registries":
            settings.setdefault(name, []).append(value if has_value else args.pop(0) if args else "")
        else:
            settings[name] = {"true": True, "false": False}.get(value, value) if has_value else True
    return settings


def audit_rows(watched):
    """1.1.x from the paths auditd watches (None: auditd does not run here, with why)."""
    if isinstance(watched, str):
        return [row(cis_id, f"Auditing is configured for {what}", INFO, watched) for cis_id, what, _rules in AUDITED]
    rows = []
    for cis_id, what, paths in AUDITED:
        present = [p for p in paths if os.path.exists(p)]
        if not present:
            rows.append(row(cis_id, f"Auditing is configured for {what}", INFO, "not present on this host"))
        elif any(p in watched for p in present):
            rows.append(row(cis_id, f"Auditing is configured for {what}", PASS, f"auditd watches {present[0]}"))
        else:
            rows.append(row(cis_id, f"Auditing is configured for {what}", WARN, f"auditd does not watch {present[0]}"))
    return rows


def daemon_rows(settings, info, bridge, plain_api_ports=()):
    """2.x from dockerd's effective settings, its /info, its default bridge network and the ports where dockerd
    answers its API without TLS."""
    rows = [row("2.1", "The Docker daemon runs as a non-root user, if possible", INFO,
                "rootful dockerd: swarm mode, overlay networks and the routing mesh need it (rootless Docker has "
                "none of them)")]
    bridge_icc = ((bridge or {}).get("Options") or {}).get("com.docker.network.bridge.enable_icc")
    if settings.get("icc") is not False:
        rows.append(row("2.2", "Network traffic is restricted between containers on the default bridge", WARN,
                        f"icc is {json.dumps(settings.get('icc', True))} in dockerd's settings"))
    elif bridge_icc == "true":
        rows.append(row("2.2", "Network traffic is restricted between containers on the default bridge", WARN,
                        "the running default bridge still allows it (dockerd has not restarted since icc changed)"))
    else:
        rows.append(row("2.2", "Network traffic is restricted between containers on the default bridge", PASS,
                        "icc is false"))
    level = settings.get("log-level", "info")
    rows.append(row("2.3", "The logging level is set to 'info'", PASS if level == "info" else WARN,
                    f"log-level is {level}"))
    rows.append(row("2.4", "Docker is allowed to make changes to iptables",
                    WARN if settings.get("iptables") is False else PASS,
                    f"iptables is {json.dumps(settings.get('iptables', True))}"))
    insecure = [name for name, index in ((info.get("RegistryConfig") or {}).get("IndexConfigs") or {}).items()
                if not index.get("Secure") and name.split(":")[0] not in ("localhost", "127.0.0.1", "::1")]
    cidrs = [c for c in (info.get("RegistryConfig") or {}).get("InsecureRegistryCIDRs") or []
             if c not in ("127.0.0.0/8", "::1/128")]
    rows.append(row("2.5", "Insecure registries are not used", WARN if insecure or cidrs else PASS,
                    f"insecure: {', '.join(insecure + cidrs)}" if insecure or cidrs
                    else "only loopback registries may skip TLS"))
    driver = info.get("Driver", "")
    rows.append(row("2.6", "The aufs storage driver is not used", WARN if driver == "aufs" else PASS,
                    f"storage driver {driver}"))
    tcp = tcp_hosts(settings.get("hosts") or [])
    if plain_api_ports:  # however it was set to listen there (a spelling or a file the settings' read missed)
        rows.append(row("2.7", "TLS authentication for the Docker daemon is configured", WARN,
                        f"dockerd answers its API without TLS on port {', '.join(map(str, plain_api_ports))}"))
    elif not tcp:
        rows.append(row("2.7", "TLS authentication for the Docker daemon is configured", PASS,
                        "the API listens on its unix socket only"))
    else:
        rows.append(row("2.7", "TLS authentication for the Docker daemon is configured",
                        PASS if settings.get("tlsverify") is True else WARN,
                        f"{', '.join(tcp)} {'with' if settings.get('tlsverify') is True else 'WITHOUT'} tlsverify"))
    ulimits = settings.get("default-ulimits") or {}
    rows.append(row("2.8", "The default ulimit is configured appropriately", PASS if ulimits else INFO,
                    f"default-ulimits: {', '.join(sorted(ulimits))}" if ulimits
                    else "no default-ulimits: containers inherit dockerd's limits"))
    remap = settings.get("userns-remap")
    rows.append(row("2.9", "User namespace support is enabled", PASS if remap else INFO,
                    f"userns-remap {remap}" if remap else
                    "Level 2, off: remapped IDs break host bind mounts' ownership and --privileged; set userns-remap "
                    "in engine_daemon_config where neither is used"))
    parent = settings.get("cgroup-parent")
    rows.append(row("2.10", "The default cgroup usage has been confirmed", INFO if parent else PASS,
                    f"cgroup-parent {parent}: confirm it is intended" if parent else "default cgroup parent"))
    basesize = [o for o in settings.get("storage-opts") or [] if "basesize" in o]
    rows.append(row("2.11", "Base device size is not changed until needed", INFO if basesize else PASS,
                    f"{', '.join(basesize)}: confirm it is needed" if basesize else "base device size unchanged"))
    plugins = settings.get("authorization-plugins")
    rows.append(row("2.12", "Authorization for Docker client commands is enabled", PASS if plugins else INFO,
                    f"authorization plugins {', '.join(plugins)}" if plugins else
                    "Level 2, none: the API is open only to root and the docker group on the host's socket (and to "
                    "holders of a certificate from the collection's CA with engine_tls_api)"))
    log_driver = info.get("LoggingDriver", settings.get("log-driver", "json-file"))
    rows.append(row("2.13", "Centralized and remote logging is configured",
                    PASS if log_driver in REMOTE_LOG_DRIVERS else INFO,
                    f"log driver {log_driver}" + ("" if log_driver in REMOTE_LOG_DRIVERS else
                                                  ": local files, rotated; ship them with the site's log agent")))
    rows.append(row("2.14", "Containers are restricted from acquiring new privileges",
                    PASS if settings.get("no-new-privileges") is True else WARN,
                    f"no-new-privileges is {json.dumps(settings.get('no-new-privileges', False))}"))
    swarm_active = (info.get("Swarm") or {}).get("LocalNodeState") in ("active", "pending", "locked")
    if info.get("LiveRestoreEnabled"):
        rows.append(row("2.15", "Live restore is enabled", PASS, "live-restore is true"))
    elif swarm_active:
        rows.append(row("2.15", "Live restore is enabled", INFO, "a swarm node: dockerd refuses live-restore in "
                                                                 "swarm mode (swarm reschedules tasks instead)"))
    else:
        rows.append(row("2.15", "Live restore is enabled", WARN, "live-restore is false"))
    rows.append(row("2.16", "Userland proxy is disabled", PASS if settings.get("userland-proxy") is False else WARN,
                    f"userland-proxy is {json.dumps(settings.get('userland-proxy', True))}"))
    seccomp = [o for o in info.get("SecurityOptions") or [] if o.startswith("name=seccomp")]
    rows.append(row("2.17", "A daemon-wide custom seccomp profile is applied if appropriate", PASS if seccomp else WARN,
                    f"{seccomp[0]}" if seccomp else "containers run without seccomp"))
    rows.append(row("2.18", "Experimental features are not implemented in production",
                    WARN if info.get("ExperimentalBuild") or settings.get("experimental") else PASS,
                    "experimental is on" if info.get("ExperimentalBuild") else "experimental is off"))
    return rows


def owner_and_mode_rows(owner_id, mode_id, what, path, owner, group, most):
    """Two rows (ownership, permissions) for one file; INFO rows when it is not there."""
    if path is None:
        return [row(owner_id, f"{what} is owned by {owner}:{group}", INFO, "not present on this host"),
                row(mode_id, f"{what} has mode {most:o} or stricter", INFO, "not present on this host")]
    st = os.stat(path)
    user, group_name = _name(pwd.getpwuid, st.st_uid), _name(grp.getgrgid, st.st_gid)
    mode = stat.S_IMODE(st.st_mode)
    return [row(owner_id, f"{what} is owned by {owner}:{group}",
                PASS if (user, group_name) == (owner, group) else WARN, f"{path} is {user}:{group_name}"),
            row(mode_id, f"{what} has mode {most:o} or stricter", PASS if not mode & ~most else WARN,
                f"{path} has mode {mode:o}")]


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def first_existing(paths):
    return next((p for p in paths if os.path.exists(p)), None)


def file_rows(settings):
    """3.x: Docker's files, the registry certificates in certs.d and the TLS API's files."""
    rows = []
    for owner_id, mode_id, what, paths, owner, group, most in FILES:
        rows += owner_and_mode_rows(owner_id, mode_id, what, first_existing(paths), owner, group, most)
    certs = [os.path.join(d, f) for d, _dirs, files in os.walk("/etc/docker/certs.d") for f in files]
    for cert in certs or [None]:
        rows += owner_and_mode_rows("3.7", "3.8", f"registry certificate {cert}" if cert else "registry certificates",
                                    cert, "root", "root", 0o444)
    for key, owner_id, mode_id, what, most in TLS_FILES:
        rows += owner_and_mode_rows(owner_id, mode_id, what, first_existing([settings[key]] if settings.get(key)
                                                                            else []), "root", "root", most)
    return sorted(rows, key=lambda r: tuple(int(n) for n in r["id"].split(".")))


def container_rows(containers, settings):
    """5.x (and 4.1) for the running containers, naming the ones that fail."""
    checks = [
        ("4.1", "Containers run as a non-root user", INFO,
         lambda c: (c["Config"].get("User") or "root") in ("root", "0", "0:0"),
         "image's choice; dockyard cannot change it: add a USER to the image"),
        ("5.4", "Privileged containers are not used", WARN, lambda c: c["HostConfig"].get("Privileged"), ""),
        ("5.5", "Sensitive host directories are not mounted", WARN,
         lambda c: any(m.get("Type") == "bind" and ((m.get("Source") or "").rstrip("/") or "/") in SENSITIVE
                       for m in c.get("Mounts") or []), ""),
        ("5.9", "The host's network namespace is not shared", WARN,
         lambda c: c["HostConfig"].get("NetworkMode") == "host", ""),
        ("5.10", "Memory usage for containers is limited", WARN, lambda c: not c["HostConfig"].get("Memory"), ""),
        ("5.15", "The host's process namespace is not shared", WARN,
         lambda c: c["HostConfig"].get("PidMode") == "host", ""),
        ("5.16", "The host's IPC namespace is not shared", WARN,
         lambda c: c["HostConfig"].get("IpcMode") == "host", ""),
        ("5.25", "Containers are restricted from acquiring additional privileges", WARN,
         lambda c: not (settings.get("no-new-privileges") is True
                        and "no-new-privileges=false" not in (c["HostConfig"].get("SecurityOpt") or []))
         and not any(o in ("no-new-privileges", "no-new-privileges=true", "no-new-privileges:true")
                     for o in c["HostConfig"].get("SecurityOpt") or []), ""),
        ("5.26", "Container health is checked at runtime", INFO,
         lambda c: not (c["Config"].get("Healthcheck") or {}).get("Test")
         or (c["Config"]["Healthcheck"]["Test"][0] == "NONE"),
         "image's or service's choice: add a HEALTHCHECK (or a compose healthcheck)"),
        ("5.31", "The Docker socket is not mounted inside containers", WARN,
         lambda c: any(m.get("Source") in SOCKETS for m in c.get("Mounts") or []), ""),
    ]
    rows = []
    for cis_id, title, failing, test, advice in checks:
        bad = sorted(c["Name"].lstrip("/") for c in containers if test(c))
        if not containers:
            rows.append(row(cis_id, title, PASS, "no container runs or is created"))
        elif bad:
            rows.append(row(cis_id, title, failing, f"{', '.join(bad)}" + (f" ({advice})" if advice else "")))
        else:
            rows.append(row(cis_id, title, PASS, f"all {len(containers)} running or created containers"))
    return rows


def listening(port):
    """Local addresses listening on a TCP port."""
    return ["*" if set(address) == {"0"} else address for address, bound in listening_sockets() if bound == port]


def plain_api_ports(pid):
    """The ports dockerd (process ``pid``) listens on where the Engine API answers a plain HTTP /_ping (an
    `Api-Version` header): the published ports it holds for containers and services answer otherwise, or not."""
    found = []
    for address, port in sorted(set(listening_sockets(owner=pid))):
        if port in SWARM_PORTS:
            continue
        family = socket.AF_INET if len(address) == 8 else socket.AF_INET6
        raw = b"".join(word[::-1] for word in (bytes.fromhex(address)[i:i + 4] for i in range(0, len(address) // 2, 4)))
        host = socket.inet_ntop(family, raw) if raw.strip(b"\0") else "127.0.0.1" if family == socket.AF_INET else "::1"
        connection = http.client.HTTPConnection(host, port, timeout=2)
        try:
            connection.request("GET", "/_ping")
            if connection.getresponse().getheader("Api-Version"):
                found.append(port)
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
    return sorted(set(found))


def swarm_rows(info, swarm_expected, swarm, nodes, overlays, esp_reason):
    """7.x. ``swarm``/``nodes``/``overlays`` are read on managers only (None on workers)."""
    local = (info.get("Swarm") or {}).get("LocalNodeState", "inactive")
    active = local in ("active", "locked", "pending")
    rows = [row("7.1", "Swarm mode is not enabled, if not needed", WARN if active and not swarm_expected else PASS,
                f"swarm {local}; the inventory {'puts' if swarm_expected else 'does not put'} this host in the swarm")]
    title = {"7.2": "The minimum number of manager nodes have been created", "7.3": "Swarm services are bound to a "
             "specific host interface", "7.4": "All overlay networks are encrypted", "7.5": "Docker's secret "
             "management commands are used for secrets", "7.6": "Swarm managers run in auto-lock mode",
             "7.7": "The auto-lock key is rotated periodically", "7.8": "Node certificates are rotated as "
             "appropriate", "7.9": "CA certificates are rotated as appropriate", "7.10": "Management plane traffic "
             "is separated from data plane traffic"}
    if not active or swarm is None:
        why = "not a swarm node" if not active else "a worker: the swarm's settings are read on managers"
        return rows + [row(cis_id, text, INFO, why) for cis_id, text in title.items()]
    managers = [n for n in nodes if n.get("ManagerStatus")]
    rows.append(row("7.2", title["7.2"], PASS if len(managers) % 2 == 1 and len(managers) <= 7 else WARN,
                    f"{len(managers)} manager(s)"))
    wildcard = [a for a in listening(SWARM_PORT) if a == "*"]
    rows.append(row("7.3", title["7.3"], WARN if wildcard else PASS,
                    f"port {SWARM_PORT} listens on every address" if wildcard
                    else f"port {SWARM_PORT} is bound to the node's address"))
    plain = sorted(n["Name"] for n in overlays
                   if n["Name"] != "ingress" and "encrypted" not in (n.get("Options") or {}))
    if plain and esp_reason:
        rows.append(row("7.4", title["7.4"], INFO, f"{', '.join(plain)} unencrypted: this kernel cannot carry IPsec "
                                                   f"ESP (AES-GCM) ({esp_reason})"))
    else:
        rows.append(row("7.4", title["7.4"], WARN if plain else PASS,
                        f"unencrypted: {', '.join(plain)}" if plain else "every overlay but Docker's own ingress"))
    rows.append(row("7.5", title["7.5"], INFO, "manual: dockyard deploy makes compose secrets swarm secrets"))
    autolock = ((swarm.get("Spec") or {}).get("EncryptionConfig") or {}).get("AutoLockManagers")
    rows.append(row("7.6", title["7.6"], PASS if autolock else INFO,
                    "autolock is on" if autolock else "autolock is off (swarm_autolock: true turns it on; a "
                                                      "restarted manager then waits for its unlock key)"))
    rows.append(row("7.7", title["7.7"], INFO, "manual: dockyard swarm rotate --unlock-key"))
    expiry = ((swarm.get("Spec") or {}).get("CAConfig") or {}).get("NodeCertExpiry", 0) / 1e9 / 86400
    rows.append(row("7.8", title["7.8"], PASS if 0 < expiry <= 90 else WARN, f"node certificates last {expiry:g} days"))
    rows.append(row("7.9", title["7.9"], INFO, "manual: dockyard swarm rotate --ca"))
    rows.append(row("7.10", title["7.10"], INFO, "management and data share the node's address (set a data path "
                                                 "address per host where it has a second interface)"))
    return rows


def read_auditd(module):
    """Paths auditd watches, or why auditd does not run here."""
    auditctl = module.get_bin_path("auditctl")
    if not auditctl:
        return ("auditd is not installed (a host in a container cannot run it: the kernel's audit subsystem "
                "belongs to the machine's init); the engine role writes the rules where auditd is installed")
    rc, out, err = module.run_command([auditctl, "-l"])
    if rc != 0:
        return f"auditctl -l failed: {(err or out).strip()}"
    return {word for line in out.splitlines() for word in line.split() if word.startswith("/")}


def dockerd_process(pid_file="/var/run/docker.pid"):
    """dockerd's pid and command-line arguments, or (None, [])."""
    try:
        with open(pid_file, encoding="ascii") as handle:
            pid = int(handle.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return pid, [a.decode() for a in handle.read().split(b"\0")[1:] if a]
    except (OSError, ValueError):
        return None, []


def main():
    module = DockyardModule(
        argument_spec=dict(swarm_expected={"type": "bool", "default": False},
                           daemon_json={"type": "path", "default": "/etc/docker/daemon.json"}),
        supports_check_mode=True,
    )
    p = module.params
    host = module.host
    api = module.api
    try:
        with open(p["daemon_json"], encoding="utf-8") as handle:
            daemon_json = json.load(handle)
    except FileNotFoundError:
        daemon_json = {}
    except ValueError as exc:
        module.fail_json(msg=f"Auditing {host}: {p['daemon_json']} is not JSON ({exc}); dockerd cannot start with "
                             "it either. Run the engine role to write it again.")
    try:
        info = api.info()
        pid, argv = dockerd_process()
        settings = effective_settings(daemon_json, argv)
        plain = plain_api_ports(pid) if pid else []
        containers = [api.get(f"/containers/{c['Id']}/json") for c in api.get(
            "/containers/json", all="1", filters=json.dumps({"status": list(LIVE)}))]
        manager = (info.get("Swarm") or {}).get("ControlAvailable")
        swarm = api.get("/swarm") if manager else None
        nodes = api.get("/nodes") if manager else []
        overlays = api.get("/networks", filters=json.dumps({"driver": ["overlay"]})) if manager else []
        checks = (audit_rows(read_auditd(module)) + daemon_rows(settings, info, api.find("/networks/bridge"), plain)
                  + file_rows(settings) + container_rows(containers, settings)
                  + swarm_rows(info, p["swarm_expected"], swarm, nodes, overlays,
                               esp_missing(module) if overlays else None))
    except DockerError as exc:
        module.fail_json(msg=f"Auditing {host} failed reading its Engine: {exc}. Start Docker Engine (the engine "
                             "role does) and run the audit again.")
    summary = {status: sum(1 for c in checks if c["status"] == status) for status in (PASS, WARN, INFO)}
    module.exit_json(changed=False, checks=checks, summary=summary)


if __name__ == "__main__":
    main()
