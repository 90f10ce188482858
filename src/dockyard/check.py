"""`dockyard check`: find every problem of an inventory before anything is touched.

Reads the inventory with Ansible's own loader (group_vars and host_vars included), checks the
groups dockyard's roles rely on, each role variable against its role's argument spec, and
duplicate addresses; then connects to every host over SSH in parallel (paramiko) and asks for
python3, and on Kubernetes hosts for what the kubelet and kubeadm need (KUBE_PROBE). Host keys
are verified as Ansible's ssh would verify them (known_hosts files and StrictHostKeyChecking from
the inventory's ssh arguments, Ansible's host_key_checking), before any credential is sent. Every
problem is reported at once, with the host and the fix.
"""

from __future__ import annotations

import contextlib
import difflib
import getpass
import io
import json
import os
import re
import shlex
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from dockyard.collection import collection_module, collection_root
from dockyard.errors import EnvironmentProblem, UsageError


@dataclass(frozen=True)
class Problem:
    where: str  # a host, or "inventory"
    what: str
    fix: str
    unreachable: bool = False

    def __str__(self):
        # A host name may hold any character, a line break too (\x85 ends a line as \n does): one problem, one line.
        text = f"{self.where}: {self.what}. Fix: {self.fix}"
        return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


@contextlib.contextmanager
def ansible_warnings():
    """Collect what Ansible writes to standard error (its display holds its own handle on fd 2)."""
    collected = io.StringIO()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stderr(collected):
                yield collected
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            collected.write(sink.read())


def load(inventory: str, limit: str | None = None, vault=None):
    """(hosts -> vars, groups -> set of hosts, hosts --limit selects) as Ansible sees them. Vault-encrypted
    values stay encrypted until something reads them (only the SSH probe's password does)."""
    try:
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager
    except ImportError as exc:
        raise EnvironmentProblem(f"Ansible cannot be imported ({exc}); reinstall dockyard: pip install -e .") from exc
    loader = DataLoader()
    if vault is not None:
        vault.load_secrets(loader)
    # Ansible warns about every non-inventory file in an inventory directory (the lab's SSH key);
    # the playbook runs log those warnings, here they would only bury the report.
    with ansible_warnings() as warnings:
        manager = InventoryManager(loader=loader, sources=[inventory])
    source = os.path.abspath(inventory)
    if f"Unable to parse {source} as an inventory source" in warnings.getvalue():
        reasons = [line.split(":", 1)[1].strip().rstrip(".") for line in warnings.getvalue().splitlines()
                   if line.startswith("Failed to parse inventory:")]
        raise UsageError(f"Ansible cannot parse the inventory {inventory}"
                         + (f": {reasons[-1]}" if reasons else "") + "; fix it (or name its format) and run again")
    variables = VariableManager(loader=loader, inventory=manager)
    with ansible_warnings() as warnings:
        hosts = {host.name: variables.get_vars(host=host) for host in manager.get_hosts()}
    reserved = sorted(set(re.findall(r"Found variable using reserved name '([^']*)'", warnings.getvalue())))
    if reserved:
        raise UsageError(f"the inventory {inventory} sets {', '.join(map(repr, reserved))}, a name Ansible keeps for "
                         "its own keywords; rename the variable and run again")
    sys.stderr.write(warnings.getvalue())
    groups = {name: {host.name for host in group.get_hosts()} for name, group in manager.groups.items()}
    if not limit:
        return hosts, groups, set(hosts)
    with ansible_warnings():
        manager.subset(limit)
        targeted = {host.name for host in manager.get_hosts()}
    if not targeted:
        raise UsageError(f"--limit {limit} matches no host of {inventory}; its hosts are "
                         f"{', '.join(sorted(hosts)) or 'none'} and its groups "
                         f"{', '.join(sorted(g for g in groups if g not in ('all', 'ungrouped')))}")
    return hosts, groups, targeted


def role_specs() -> dict[str, dict]:
    """Role name -> options of its main argument spec."""
    specs = {}
    for path in sorted((collection_root() / "roles").glob("*/meta/argument_specs.yml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        specs[path.parents[1].name] = spec["argument_specs"]["main"]["options"]
    return specs


def check_groups(groups: dict[str, set]) -> list[Problem]:
    """The group rules of the collection's filter dockyard.fleet.group_problems, which the swarm role asks too."""
    rules = collection_module("plugins.filter.group_problems")
    return [Problem(*problem) for problem in rules.group_problems(groups)]


def roles_of(host: str, groups: dict[str, set]) -> set[str]:
    """The roles of site.yml whose required variables a host must have: the registry role runs on every Engine
    host (each logs in) when the inventory has a registry."""
    return {"registry"} if groups.get("registry") and host in groups.get("docker_hosts", ()) else set()


def extra_var_names(items) -> set[str] | None:
    """The variables ``-e`` values set (key=value, YAML/JSON, @file), or None when a file's cannot be told
    (vault-encrypted, unreadable): then no required variable is reported missing."""
    from ansible.parsing.splitter import parse_kv

    names: set[str] = set()
    for item in items:
        try:
            if item.startswith("@"):
                data = yaml.safe_load(Path(item[1:]).expanduser().read_text(encoding="utf-8"))
            else:
                data = yaml.safe_load(item) if item.lstrip().startswith(("{", "[")) or "\n" in item else parse_kv(item)
        except (OSError, yaml.YAMLError):
            return None
        if not isinstance(data, dict):
            return None
        names |= set(data)
    return names


def check_variables(hosts: dict[str, dict], specs: dict[str, dict], groups: dict[str, set],
                    given: set[str] | None = frozenset()) -> list[Problem]:
    """Each role variable by name and value against its role's argument spec, and the required ones of the roles a
    host runs (``given``: what -e sets for every host; None: unknown, so none is reported missing)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    problems = []
    for host, host_vars in sorted(hosts.items()) if given is not None else ():
        for role in sorted(roles_of(host, groups)):
            for name in sorted(n for n, option in specs[role].items()
                               if option.get("required") and n not in host_vars and n not in given):
                problems.append(Problem(host, f"{name} is not set (the {role} role requires it)",
                                        f"set {name} for the host or its group (see docs/roles/{role}.md)"))
    for role, options in specs.items():
        spec = {name: {k: v for k, v in option.items() if k not in ("description", "default", "required")}
                for name, option in options.items()}
        validator = ArgumentSpecValidator(spec)
        for host, host_vars in sorted(hosts.items()):
            mine = {k: v for k, v in host_vars.items() if k.startswith(f"{role}_")}
            for name in sorted(set(mine) - set(options)):
                hint = difflib.get_close_matches(name, options, n=1)
                problems.append(Problem(host, f"unknown variable {name}",
                                        f"use {hint[0]}" if hint else f"see docs/roles/{role}.md for {role}_*"))
            concrete = {k: v for k, v in mine.items() if k in options and not encrypted(v) and "{{" not in str(v)}
            for error in validator.validate(concrete).errors:
                problems.append(Problem(host, f"bad value: {error}", f"see docs/roles/{role}.md"))
    return problems


def encrypted(value) -> bool:
    """A !vault value: not decrypted to check it (the role's own argument spec checks it in the run)."""
    from ansible.parsing.vault import EncryptedString

    return isinstance(value, EncryptedString)


def address(name: str, host_vars: dict) -> str:
    return str(host_vars.get("ansible_host", name))


def check_addresses(hosts: dict[str, dict]) -> list[Problem]:
    seen: dict[tuple, list[str]] = {}
    for name, host_vars in hosts.items():
        seen.setdefault((address(name, host_vars), str(host_vars.get("ansible_port", 22))), []).append(name)
    return [Problem(", ".join(sorted(names)), f"share the address {addr}:{port}",
                    "give each host its own ansible_host (or ansible_port)")
            for (addr, port), names in sorted(seen.items()) if len(names) > 1]


def ssh_options(ssh_args: str) -> dict[str, str]:
    """The ``-o Key=value`` options of ssh arguments, keys lower-cased (ssh's own are case-insensitive)."""
    words = shlex.split(ssh_args)
    options = {}
    for index, word in enumerate(words):
        option = word[2:] if word.startswith("-o") and len(word) > 2 else (
            words[index + 1] if word == "-o" and index + 1 < len(words) else "")
        match = re.match(r"\s*(\w+)\s*[= ]\s*(.*)", option)
        if match:
            options.setdefault(match.group(1).lower(), match.group(2).strip())
    return options


class _Accept:
    """A host not in known_hosts where the settings accept new hosts (as ssh's accept-new or no): the key is
    taken for this probe only, written nowhere."""

    def missing_host_key(self, client, hostname, key):
        return None


def host_key_settings(host_vars: dict, ssh_args: str):
    """(known_hosts files, whether an unknown host is refused) as ssh would use them for this host."""
    from ansible import constants as C

    options = ssh_options(ssh_args)
    files = shlex.split(options.get("userknownhostsfile", "~/.ssh/known_hosts ~/.ssh/known_hosts2"))
    files = [os.path.expanduser(f) for f in files] + ["/etc/ssh/ssh_known_hosts"]
    checking = host_vars.get("ansible_host_key_checking", host_vars.get("ansible_ssh_host_key_checking",
                                                                        C.HOST_KEY_CHECKING))
    strict = options.get("stricthostkeychecking", "ask" if checking else "no").lower()
    return files, strict in ("yes", "ask", "true")


def connect_timeout(host_vars: dict) -> float:
    """Seconds to wait for the SSH connection, as Ansible's ssh takes them (ansible_ssh_timeout, ansible_timeout,
    then the configured timeout)."""
    from ansible import constants as C

    for name in ("ansible_ssh_timeout", "ansible_timeout"):
        if str(host_vars.get(name, "")).strip().isdigit():
            return float(host_vars[name])
    return float(C.config.get_config_value("DEFAULT_TIMEOUT"))


def connect_failure(exc: Exception, waited: float, timeout: float) -> str:
    """Why a connection failed, in words (paramiko's 'Unable to connect' carries the socket errors; a silent peer
    ends in whichever of its timeouts came first)."""
    import paramiko

    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return "; ".join(sorted({os.strerror(e.errno) if e.errno else str(e) for e in exc.errors.values()}))
    if isinstance(exc, TimeoutError) or "timed out" in str(exc) or waited >= timeout:
        return "no answer in time"
    if "Error reading SSH protocol banner" in str(exc):
        return "something answers there, but not an SSH server"
    return str(exc) or type(exc).__name__


# What the kubelet and kubeadm need of a host that the kubernetes role does not set itself, read in one command:
# swap, cgroup v2, systemd as PID 1 (the systemd cgroup driver), br_netfilter (loaded, built in or loadable), the
# ports the cluster's components listen on, and whether the host is a node already (its ports are then its own).
KUBE_PROBE = r"""
import json, os, platform
def listening():
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            for row in open(table).readlines()[1:]:
                if row.split()[3] == "0A":
                    ports.add(int(row.split()[1].rsplit(":", 1)[1], 16))
    return sorted(ports)
def module(name):
    base = "/lib/modules/" + platform.release()
    return any(os.path.exists(f"{base}/{f}") and name in open(f"{base}/{f}").read()
               for f in ("modules.builtin", "modules.dep"))
print(json.dumps({"swap": len(open("/proc/swaps").readlines()) - 1,
                  "cgroup2": os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
                  "init": open("/proc/1/comm").read().strip(),
                  "br_netfilter": os.path.isdir("/proc/sys/net/bridge") or module("br_netfilter"),
                  "member": os.path.exists("/etc/kubernetes/kubelet.conf"), "ports": listening()}))
"""
CONTROL_PLANE_PORTS = {6443: "kube-apiserver", 2379: "etcd", 2380: "etcd (peers)", 10250: "the kubelet",
                       10257: "kube-controller-manager", 10259: "kube-scheduler"}


def kube_problems(name: str, host_vars: dict, found: dict, control_plane: bool) -> list[Problem]:
    """What KUBE_PROBE found on a Kubernetes host that would stop kubeadm or the kubelet."""
    problems = []
    if found["swap"]:
        problems.append(Problem(name, f"has swap on ({found['swap']} device(s) in /proc/swaps), which the kubelet "
                                      "refuses", "turn it off (swapoff -a) and remove it from /etc/fstab"))
    if not found["cgroup2"] and not host_vars.get("kubernetes_allow_cgroup_v1"):
        problems.append(Problem(name, "its kernel runs cgroup v1, which Kubernetes 1.35+ refuses",
                                "boot it with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or set "
                                "kubernetes_allow_cgroup_v1: true"))
    if found["init"] != "systemd":
        problems.append(Problem(name, f"runs {found['init']} as PID 1; the kubelet and containerd use the systemd "
                                      "cgroup driver", "run the host with systemd as its init"))
    if not found["br_netfilter"]:
        problems.append(Problem(name, "its kernel has no br_netfilter module (loaded, built in or loadable), "
                                      "without which Services do not answer pods on the same node",
                                "install the kernel's modules package (linux-image-*) or build it in"))
    if not found["member"]:
        wanted = CONTROL_PLANE_PORTS if control_plane else {10250: "the kubelet"}
        for port in sorted(set(wanted) & set(found["ports"])):
            problems.append(Problem(name, f"port {port}, which {wanted[port]} listens on, is in use by another "
                                          "program", "stop what listens there (ss -ltnp)"))
    return problems


def probe(name: str, host_vars: dict, connection: dict | None = None, kube_role: str = "") -> list[Problem]:
    """SSH in as Ansible would and ask for python3 >= 3.9, and on a Kubernetes host (``kube_role``:
    control_plane or node) for what the kubelet needs (KUBE_PROBE). The host key is checked before anything is
    sent: a key that differs from the known one stops the probe (and the run) before authentication."""
    import paramiko

    if host_vars.get("ansible_connection", "ssh") not in ("ssh", "smart", "paramiko"):
        return []
    ssh_args = " ".join(str(host_vars.get(k, "")) for k in ("ansible_ssh_common_args", "ansible_ssh_extra_args"))
    if "ProxyJump" in ssh_args or "ProxyCommand" in ssh_args:
        return []  # reached through a jump host: Ansible's own first play checks it
    connection = connection or {}
    key = (host_vars.get("ansible_ssh_private_key_file") or host_vars.get("ansible_private_key_file")
           or connection.get("private_key"))
    user = host_vars.get("ansible_user") or connection.get("user") or getpass.getuser()
    port = int(host_vars.get("ansible_port", 22))
    timeout = connect_timeout(host_vars)
    client = paramiko.SSHClient()
    files, strict = host_key_settings(host_vars, ssh_args)
    for known in (f for f in files if os.path.isfile(f)):
        client.load_system_host_keys(known)  # read only: the probe writes no known_hosts
    client.set_missing_host_key_policy(paramiko.RejectPolicy() if strict else _Accept())
    target = f"{user}@{address(name, host_vars)}:{port}"
    started = time.monotonic()
    try:
        client.connect(address(name, host_vars), port=port, username=user,
                       password=host_vars.get("ansible_password") or host_vars.get("ansible_ssh_pass"),
                       key_filename=os.path.expanduser(key) if key else None, timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout)
        _, stdout, _ = client.exec_command("python3 -c 'import sys; print(sys.version_info[0], sys.version_info[1])'",
                                           timeout=timeout)
        version = stdout.read().decode().split()
        probed = ("", "")
        if kube_role and len(version) == 2:
            _, stdout, stderr = client.exec_command(f"python3 -c {shlex.quote(KUBE_PROBE)}", timeout=timeout)
            probed = (stdout.read().decode(), stderr.read().decode())
    except paramiko.BadHostKeyException as exc:
        return [Problem(name, f"the SSH host key of {address(name, host_vars)} is not the one in known_hosts "
                             f"({exc.key.fingerprint} answered, {exc.expected_key.fingerprint} expected): the host "
                             "was rebuilt, or something else answers at its address. Nothing was sent to it",
                       "if the host was rebuilt, check its new key out of band and replace the old one "
                       f"(ssh-keygen -R {address(name, host_vars)}); otherwise find out who answers there")]
    except (OSError, paramiko.SSHException) as exc:
        if "not found in known_hosts" in str(exc):
            return [Problem(name, f"the SSH host key of {address(name, host_vars)} is not in known_hosts "
                                  f"({', '.join(files)}) and StrictHostKeyChecking refuses unknown hosts",
                            "check the host's key out of band and add it to known_hosts")]
        return [Problem(name, f"SSH to {target} failed: {connect_failure(exc, time.monotonic() - started, timeout)}",
                        "check the address and port, that sshd runs, ansible_user and the key (waited "
                        f"{timeout:g} s: ansible_ssh_timeout)", unreachable=True)]
    finally:
        client.close()
    if len(version) != 2 or (int(version[0]), int(version[1])) < (3, 9):
        return [Problem(name, f"has no python3 >= 3.9 (got: {' '.join(version) or 'none'})",
                        "install python3 (apt-get install python3)")]
    if not kube_role:
        return []
    try:
        found = json.loads(probed[0])
    except ValueError:
        said = (probed[1].strip().splitlines() or ["no output"])[-1]
        return [Problem(name, f"the Kubernetes host check (KUBE_PROBE in dockyard/check.py) failed there: {said}",
                        "run it on the host with python3 to see why, and report it if the host is a normal Debian")]
    return kube_problems(name, host_vars, found, kube_role == "control_plane")


def check(inventory: str, limit: str | None = None, vault=None, connection: dict | None = None,
          extra_vars=()) -> tuple[list[Problem], int]:
    """Every problem (SSH probes only for the hosts --limit selects), and how many hosts the run targets.
    ``connection``: the command line's user and private_key, for hosts whose inventory sets none; ``extra_vars``:
    its -e values."""
    hosts, groups, targeted = load(inventory, limit, vault)
    problems = (check_groups(groups) + check_variables(hosts, role_specs(), groups, extra_var_names(extra_vars))
                + check_addresses(hosts))
    kube_roles = {**dict.fromkeys(groups.get("kube_nodes", []), "node"),
                  **dict.fromkeys(groups.get("kube_control_plane", []), "control_plane")}
    if targeted:
        with ThreadPoolExecutor(max_workers=min(32, len(targeted))) as pool:
            problems += [p for found in pool.map(lambda name: probe(name, hosts[name], connection,
                                                                    kube_roles.get(name, "")), sorted(targeted))
                         for p in found]
    return merged(problems), len(targeted)


def merged(problems: list[Problem]) -> list[Problem]:
    """One line for a problem that several hosts share (a group variable, say), naming them all."""
    by_kind: dict[tuple, list[Problem]] = {}
    for problem in problems:
        by_kind.setdefault((problem.what, problem.fix, problem.unreachable), []).append(problem)
    return [Problem(", ".join(p.where for p in same), *kind) for kind, same in by_kind.items()]
