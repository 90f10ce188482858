"""`dockyard lab`: throw-away servers on this machine (systemd + sshd + room for dockerd).

Each lab host is a container from a Debian base image built offline with debootstrap,
running systemd as PID 1 and sshd, on a private bridge network with fixed addresses.
Everything a lab makes carries the label ``dockyard.lab=<name>``, so ``lab down``
removes exactly that and nothing else.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from dockyard.collection import collection_root
from dockyard.errors import DockyardError, EnvironmentProblem, UsageError

LABEL = "dockyard.lab"
IMAGE_REPO = "dockyard/lab-host"
SUBNET_POOL = ipaddress.ip_network("172.29.0.0/16")
FIRST_HOST_OFFSET = 11
DEFAULT_MIRROR = "http://deb.debian.org/debian"
MAX_HOSTS = 50

# The base image recipe. Its hash is the image tag: change anything here and the next
# `lab up` builds a new image; otherwise the cached one is reused.
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "iproute2", "sudo",
    "ca-certificates", "iptables", "procps", "curl", "gnupg",
)
# Units that cannot work inside a container; masking them keeps `is-system-running` at "running".
MASKED_UNITS = (
    "getty@tty1.service", "console-getty.service", "systemd-udevd.service", "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket", "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
    "sys-kernel-config.mount", "systemd-remount-fs.service", "systemd-modules-load.service",
    "systemd-sysctl.service", "systemd-firstboot.service", "systemd-networkd-wait-online.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_reap.service", "e2scrub_all.timer",
)
FILES = {
    # Host keys are made at first boot, so lab hosts do not share them.
    "etc/systemd/system/ssh.service.d/dockyard-hostkeys.conf": (
        "[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n"
    ),
    "etc/ssh/sshd_config.d/dockyard.conf": (
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n"
    ),
}
IMPORT_CHANGES = ('CMD ["/sbin/init"]',)
# Every capability the Engine knows except SYS_RESOURCE (it fails here); --privileged
# fails on this kind of kernel ("unable to apply caps").
RUN_SECURITY = (
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
)


def recipe_hash(suite: str = "bookworm") -> str:
    recipe = {"suite": suite, "packages": PACKAGES, "masked": MASKED_UNITS, "files": FILES,
              "changes": IMPORT_CHANGES}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def image_tag() -> str:
    return f"{IMAGE_REPO}:{recipe_hash()}"


# -- docker CLI ---------------------------------------------------------------------------

def docker(*args: str, stdin=None, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    """Run the docker CLI with an argv list; a failure raises with the command and its stderr."""
    cmd = ["docker", *args]
    try:
        proc = subprocess.run(cmd, stdin=stdin, capture_output=capture, text=True, check=False)
    except FileNotFoundError as exc:
        raise EnvironmentProblem("The docker command is not installed on this machine; run `dockyard lab up`, "
                                 "which installs Docker Engine with the collection's engine role.") from exc
    if check and proc.returncode != 0:
        raise DockyardError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc


def docker_json(*args: str) -> list:
    """``docker inspect``-style commands: JSON out, [] when the object does not exist."""
    proc = docker(*args, check=False)
    if proc.returncode != 0:
        if "No such" in proc.stderr or "not found" in proc.stderr:
            return []
        raise DockyardError(f"`docker {' '.join(args)}` failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout or "[]")


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return docker("version", "--format", "{{.Server.Version}}", check=False).returncode == 0


# -- the lab's shape ----------------------------------------------------------------------

@dataclass(frozen=True)
class LabHost:
    name: str
    container: str
    address: str

    @property
    def volumes(self) -> dict[str, str]:
        """Volume name -> mount point. overlay2 and a moved data-root need real file systems, not the
        container's own overlay root: /var/lib/docker for the Engine, /srv for data the roles move there."""
        return {f"{self.container}-docker": "/var/lib/docker", f"{self.container}-srv": "/srv"}


@dataclass(frozen=True)
class LabSpec:
    """The lab ``lab up`` converges to: its name, hosts and where its inventory goes."""

    name: str
    hosts: int
    managers: int
    inventory_dir: Path

    def __post_init__(self):
        if not self.name.replace("-", "").isalnum() or not self.name[0].isalpha():
            raise UsageError(f"--name {self.name!r}: use letters, digits and dashes, starting with a letter")
        if not 1 <= self.hosts <= MAX_HOSTS:
            raise UsageError(f"--hosts {self.hosts}: a lab has 1 to {MAX_HOSTS} hosts")
        if self.managers < 1 or self.managers % 2 == 0 or self.managers > self.hosts:
            raise UsageError(
                f"--managers {self.managers}: Swarm needs an odd number of managers (1, 3, 5, ...) "
                f"and no more than --hosts ({self.hosts}) to keep a quorum"
            )

    @property
    def network(self) -> str:
        return f"dockyard-{self.name}"

    def host_names(self) -> list[str]:
        return [f"node{i}" for i in range(1, self.hosts + 1)]

    def layout(self, subnet: ipaddress.IPv4Network) -> list[LabHost]:
        return [
            LabHost(name, f"dockyard-{self.name}-{name}", str(subnet.network_address + FIRST_HOST_OFFSET + i))
            for i, name in enumerate(self.host_names())
        ]

    @property
    def key_path(self) -> Path:
        return self.inventory_dir / "id_ed25519"

    @property
    def inventory_path(self) -> Path:
        return self.inventory_dir / "hosts.yml"

    @property
    def known_hosts_path(self) -> Path:
        return self.inventory_dir / "known_hosts"

    @property
    def password_path(self) -> Path:
        return self.inventory_dir / "registry.password"

    @property
    def images_dir(self) -> Path:
        return self.inventory_dir / "images"


def default_managers(hosts: int) -> int:
    return 1 if hosts < 5 else 3


def inventory(spec: LabSpec, hosts: list[LabHost]) -> dict:
    """The lab inventory with the groups of shared/DESIGN.md."""
    names = [h.name for h in hosts]
    managers, workers = names[: spec.managers], names[spec.managers:]
    password_file = spec.password_path.resolve()
    return {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_ssh_private_key_file": str(spec.key_path.resolve()),
                # Lab hosts make new host keys when they are created; `lab up` writes them to this file (read
                # over `docker exec`, not over the network), and ssh accepts no other.
                "ansible_ssh_common_args": f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile="
                                          f"{spec.known_hosts_path.resolve()} -o LogLevel=ERROR",
                "dockyard_lab": spec.name,
                # The registry and the images, built here: no public registry is reachable from the lab.
                "registry_password": f"{{{{ lookup('ansible.builtin.file', '{password_file}') }}}}",
                "registry_image": "dockyard/registry:2.8",
                "registry_image_context": str((spec.images_dir / "registry").resolve()),
                "images_build": [
                    {"name": "busybox", "tag": "1", "context": str((spec.images_dir / "busybox").resolve())},
                    {"name": "web", "tag": "1", "context": str(collection_root() / "examples" / "stacks" / "web"),
                     "build_args": {"BASE": "{{ registry_endpoint }}/busybox:1"}},
                ],
            },
            "children": {
                "docker_hosts": {"hosts": {h.name: {"ansible_host": h.address} for h in hosts}},
                "swarm_managers": {"hosts": dict.fromkeys(managers)},
                "swarm_workers": {"hosts": dict.fromkeys(workers)},
                "registry": {"hosts": dict.fromkeys(names[:1])},
                "builders": {"hosts": dict.fromkeys(names[:1])},
            },
        }
    }


def render_inventory(spec: LabSpec, hosts: list[LabHost]) -> str:
    header = (f"# Generated by `dockyard lab up --name {spec.name}`; `dockyard lab down` removes it.\n"
              "# Edit a copy, not this file: the next `lab up` rewrites it.\n")
    return header + yaml.safe_dump(inventory(spec, hosts), sort_keys=False, default_flow_style=False)


def pick_subnet(used: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    for candidate in SUBNET_POOL.subnets(new_prefix=24):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise EnvironmentProblem(f"No free /24 left in {SUBNET_POOL} for a lab network; remove unused Docker networks.")


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (the lab must reach the same one)."""
    for path in sorted((sources_dir / "sources.list.d").glob("*.sources")):
        for stanza in path.read_text(encoding="utf-8").split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if ":" in line and not line.startswith("#")
            )
            suites = fields.get("Suites", "").split()
            if fields.get("Types", "").strip() == "deb" and "bookworm" in suites and "URIs" in fields:
                return fields["URIs"].split()[0]
    legacy = sources_dir / "sources.list"
    if legacy.is_file():
        for line in legacy.read_text(encoding="utf-8").splitlines():
            parts = re.sub(r"\[[^]]*\]", " ", line).split()  # drop "[arch=amd64 signed-by=...]"
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == "bookworm":
                return parts[1]
    return DEFAULT_MIRROR


# -- the control machine ------------------------------------------------------------------

def ensure_control_machine(run_playbook) -> None:
    """Docker Engine and debootstrap on this machine, installed by the collection's own engine role."""
    if engine_answers() and shutil.which("debootstrap"):
        return
    result = run_playbook("lab.yml", "localhost,", title="preparing the control machine (Docker Engine)",
                          connection="local")
    if result.exit_code or not engine_answers():
        detail = "; ".join(f"{f['task']}: {f.get('msg', '')}".strip() for f in result.failures)
        raise EnvironmentProblem(
            "Could not install and start Docker Engine on the control machine"
            + (f" ({detail})" if detail else " (the Engine does not answer after the run)")
            + f". See {result.log_path}; /var/log/dockerd.log has the daemon's own messages."
        )


def ensure_image(mirror: str, out=print) -> str:
    tag = image_tag()
    if docker_json("image", "inspect", tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem("debootstrap is not installed; `dockyard lab up` installs it with playbooks/lab.yml.")
    out(f"building lab base image {tag} with debootstrap from {mirror} (about a minute, once)")
    with tempfile.TemporaryDirectory(prefix="dockyard-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), "bookworm", str(rootfs), mirror]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
            raise EnvironmentProblem(
                f"debootstrap failed (exit {proc.returncode}) building the lab image from {mirror}:\n{tail}\n"
                "Check that this Debian mirror is reachable from this machine, or pass --mirror URL."
            )
        customize_rootfs(rootfs)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        changes = [arg for change in IMPORT_CHANGES for arg in ("--change", change)]
        docker("import", *changes, "-m", f"dockyard lab host, recipe {recipe_hash()}", "-", tag, stdin=tar.stdout)
        tar.stdout.close()
        if tar.wait() != 0:
            raise DockyardError(f"tar of the lab rootfs {rootfs} failed (exit {tar.returncode})")
    return tag


def customize_rootfs(rootfs: Path) -> None:
    for rel, content in FILES.items():
        path = rootfs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    for unit in MASKED_UNITS:
        link = rootfs / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (rootfs / "etc/machine-id").write_text("", encoding="utf-8")
    (rootfs / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / cache).glob("*"):
            if item.is_file():
                item.unlink()


# -- lab up / down / status ---------------------------------------------------------------

def lab_containers(name: str) -> list[dict]:
    ids = docker("ps", "-a", "-q", "--filter", f"label={LABEL}={name}").stdout.split()
    return docker_json("inspect", *ids) if ids else []


def lab_network(spec_name: str) -> dict | None:
    found = docker_json("network", "inspect", f"dockyard-{spec_name}")
    return found[0] if found and found[0]["Labels"].get(LABEL) == spec_name else None


def ensure_network(spec: LabSpec) -> ipaddress.IPv4Network:
    existing = lab_network(spec.name)
    if existing:
        return ipaddress.ip_network(existing["IPAM"]["Config"][0]["Subnet"])
    ids = docker("network", "ls", "-q").stdout.split()
    used = [ipaddress.ip_network(cfg["Subnet"]) for net in docker_json("network", "inspect", *ids)
            for cfg in (net.get("IPAM", {}).get("Config") or []) if ":" not in cfg.get("Subnet", ":")]
    subnet = pick_subnet(used)
    docker("network", "create", "--driver", "bridge", "--subnet", str(subnet),
           "--gateway", str(subnet.network_address + 1), "--label", f"{LABEL}={spec.name}",
           "--label", f"{LABEL}.inventory={spec.inventory_dir.resolve()}", spec.network)
    return subnet


# Images the lab builds itself, since no registry is reachable: (name, Debian package, file in it, path in image).
BASE_IMAGES = (
    ("busybox", "busybox-static", "bin/busybox", "bin/busybox"),
    ("registry", "docker-registry", "usr/bin/docker-registry", "bin/registry"),
)


def image_contexts(dest: Path) -> dict[str, Path]:
    """Build contexts for the lab's base images: the Dockerfiles in examples/images plus, under rootfs/, the
    binary from its Debian package and the shared libraries it links (found with ldd on this machine)."""
    contexts = {}
    for name, package, member, target in BASE_IMAGES:
        context = dest / name
        contexts[name] = context
        if (context / "rootfs" / target).is_file():
            continue
        with tempfile.TemporaryDirectory() as work:
            proc = subprocess.run(["apt-get", "download", package], cwd=work, capture_output=True, text=True,
                                  check=False)
            if proc.returncode:
                raise EnvironmentProblem(f"apt-get download {package} failed for the lab's {name} image: "
                                         f"{proc.stderr.strip()}. Run `apt-get update` or check the mirror.")
            (deb,) = Path(work).glob(f"{package}_*.deb")
            subprocess.run(["dpkg-deb", "-x", str(deb), f"{work}/x"], check=True)
            shutil.rmtree(context, ignore_errors=True)
            shutil.copytree(collection_root() / "examples" / "images" / name, context)
            binary = Path(work, "x", member)
            ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
            libraries = [Path(p) for p in re.findall(r"(/\S+) \(0x", ldd)]
            for source, inside in [(binary, target), *((lib, str(lib).lstrip("/")) for lib in libraries)]:
                (context / "rootfs" / inside).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source.resolve(), context / "rootfs" / inside)
    return contexts


def ensure_secrets(spec: LabSpec) -> None:
    """The lab's SSH key and registry password, made once and kept with its inventory."""
    spec.inventory_dir.mkdir(parents=True, exist_ok=True)
    if not spec.key_path.is_file():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"dockyard-lab-{spec.name}",
                        "-f", str(spec.key_path)], check=True)
    if not spec.password_path.is_file():
        spec.password_path.touch(mode=0o600)
        spec.password_path.write_text(secrets.token_urlsafe(24), encoding="utf-8")


def create_host(spec: LabSpec, host: LabHost, image: str) -> None:
    labels = ["--label", f"{LABEL}={spec.name}", "--label", f"{LABEL}.host={host.name}"]
    mounts = []
    for volume, mount_point in host.volumes.items():
        docker("volume", "create", *labels, volume)
        mounts += ["-v", f"{volume}:{mount_point}"]
    docker("create", "--name", host.container, "--hostname", host.name, "--network", spec.network,
           "--ip", host.address, *labels, *RUN_SECURITY, *mounts,
           "--stop-signal", "SIGRTMIN+3", image)
    authorize(spec, host.container)
    docker("start", host.container)


def authorize(spec: LabSpec, container: str) -> None:
    """The lab key is the only one a host accepts; a host kept from an earlier run may have another."""
    docker("cp", f"{spec.key_path}.pub", f"{container}:/root/.ssh/authorized_keys")


def remove_container(container: dict) -> None:
    docker("rm", "-f", "-v", container["Id"])
    for mount in container.get("Mounts", []):
        if mount.get("Type") == "volume":
            docker("volume", "rm", "-f", mount["Name"], check=False)


def wait_for_ssh(hosts: list[LabHost], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(hosts)
    while pending:
        pending = [h for h in pending if not ssh_answers(h.address)]
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(f"{h.name} ({h.address})" for h in pending)
            raise DockyardError(f"sshd did not answer on {names} within {timeout:.0f}s; "
                                f"look inside with `docker exec -it {pending[0].container} journalctl -u ssh`.")
        time.sleep(0.5)


def write_known_hosts(spec: LabSpec, hosts: list[LabHost]) -> None:
    """Each host's public host keys, read from the container itself, as ssh's known_hosts lines."""
    lines = []
    for host in hosts:
        keys = docker("exec", host.container, "sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub").stdout.splitlines()
        lines += [f"{host.address} {' '.join(key.split()[:2])}" for key in keys if key.strip()]
    spec.known_hosts_path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def ssh_answers(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=2) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def up(spec: LabSpec, mirror: str, run_playbook, out=print, fresh: bool = False) -> list[LabHost]:
    """Create or converge the lab; running it twice keeps the same hosts, unless ``fresh`` asks for bare ones
    (whatever a lab of that name had is removed first)."""
    ensure_control_machine(run_playbook)
    if fresh:
        down(spec.name, out)
    image = ensure_image(mirror, out)
    ensure_secrets(spec)
    image_contexts(spec.images_dir)
    subnet = ensure_network(spec)
    hosts = spec.layout(subnet)
    wanted = {h.container: h for h in hosts}
    for container in lab_containers(spec.name):
        name = container["Name"].lstrip("/")
        if name not in wanted:
            out(f"removing {name}: not among the {spec.hosts} hosts asked for")
            remove_container(container)
            continue
        authorize(spec, name)
        if not container["State"]["Running"]:
            docker("start", name)
        wanted.pop(name, None)
    for host in wanted.values():
        out(f"creating {host.name} ({host.address})")
        create_host(spec, host, image)
    wait_for_ssh(hosts)
    write_known_hosts(spec, hosts)
    text = render_inventory(spec, hosts)
    if not spec.inventory_path.is_file() or spec.inventory_path.read_text(encoding="utf-8") != text:
        spec.inventory_path.write_text(text, encoding="utf-8")
    return hosts


def down(name: str, out=print) -> int:
    """Remove every container, volume, network and file the lab ``name`` made. Returns what was removed."""
    removed = 0
    for container in lab_containers(name):
        remove_container(container)
        removed += 1
    for volume in docker("volume", "ls", "-q", "--filter", f"label={LABEL}={name}").stdout.split():
        docker("volume", "rm", "-f", volume)
    network = lab_network(name)
    if network:
        recorded = network["Labels"].get(f"{LABEL}.inventory")
        docker("network", "rm", network["Id"])
        if recorded:  # only the directory `lab up` wrote to, never the current one by default
            inventory_dir = Path(recorded)
            for generated in ("hosts.yml", "known_hosts", "id_ed25519", "id_ed25519.pub", "registry.password"):
                (inventory_dir / generated).unlink(missing_ok=True)
            shutil.rmtree(inventory_dir / "images", ignore_errors=True)
            if inventory_dir.is_dir() and not any(inventory_dir.iterdir()):
                inventory_dir.rmdir()
        removed += 1
    out(f"lab {name}: removed {removed} object(s)" if removed else f"lab {name}: nothing to remove")
    return removed


def kernel_features() -> dict[str, str]:
    """Kernel features the platform relies on; lab hosts share this machine's kernel."""
    release = os.uname().release
    modules = Path("/lib/modules") / release

    def has(proc_path: str, module: str) -> bool:
        if Path(proc_path).exists() or Path("/sys/module", module).exists():
            return True
        return any(
            f"/{module}.ko" in (modules / index).read_text(encoding="utf-8", errors="replace")
            for index in ("modules.dep", "modules.builtin") if (modules / index).is_file()
        )

    features = {}
    features["ipvs"] = ("present" if has("/proc/net/ip_vs", "ip_vs") else
                        "MISSING: the Swarm routing mesh (ingress publishing, VIP load balancing) cannot work on "
                        "these hosts; publish ports with `mode: host` and use `endpoint_mode: dnsrr`")
    features["vxlan"] = "present" if has("/sys/module/vxlan", "vxlan") else "unknown (overlay networks need it)"
    return features


def status(name: str) -> list[dict]:
    """One row per lab host: container state, address, systemd state and whether sshd answers."""
    rows = []
    for container in sorted(lab_containers(name), key=lambda c: c["Config"]["Labels"].get(f"{LABEL}.host", "")):
        networks = container["NetworkSettings"]["Networks"]
        address = next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), "-")
        running = container["State"]["Running"]
        systemd = "-"
        if running:
            probe = docker("exec", container["Id"], "systemctl", "is-system-running", check=False)
            systemd = probe.stdout.strip() or probe.stderr.strip()
        rows.append({
            "host": container["Config"]["Labels"].get(f"{LABEL}.host", "?"),
            "container": container["Name"].lstrip("/"),
            "state": container["State"]["Status"],
            "address": address,
            "systemd": systemd,
            "ssh": "answers" if running and address != "-" and ssh_answers(address) else "no",
        })
    return rows
