"""Lab hosts as containers: the network, creating, converging and removing hosts, SSH readiness, status, and the
kernel features the hosts share with this machine."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import shutil
import socket
import tempfile
import time
from pathlib import Path

from dockyard.collection import collection_module
from dockyard.errors import DockyardError, EnvironmentProblem
from dockyard.lab.docker import docker, docker_json
from dockyard.lab.image import DEFAULT_RELEASE, ensure_control_machine, ensure_image, image_contexts
from dockyard.lab.inventory import LabHost, LabSpec, ensure_secrets, render_inventory

LABEL = "dockyard.lab"
SUBNET_POOL = ipaddress.ip_network("172.29.0.0/16")
# Every capability the Engine knows except SYS_RESOURCE (it fails here); --privileged
# fails on this kind of kernel ("unable to apply caps").
RUN_SECURITY = (
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
    # The kernel's log, which a kubelet reads (its OOM watcher) and will not start without, as on a real server.
    "--device", "/dev/kmsg",
)
# A swarm host's dockerd makes its containers' cgroups in the machine's tree, written through.
SWARM_CGROUPS = ("--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw")
# A Kubernetes node needs a cgroup tree whose root is its own: the kubelet (systemd driver) finds kubepods.slice
# where the host's systemd made it only then. Docker mounts a private namespace's hierarchies read-only; they are
# mounted again, writable, before systemd starts (docs/kubernetes.md, "Kubernetes on lab hosts").
KUBERNETES_CGROUPS = ("--cgroupns", "private")
KUBERNETES_INIT = (
    # One mount per v1 hierarchy, named by its controllers as systemd names them (net_cls,net_prio), with a link
    # for each controller of a shared one; then systemd's own hierarchy and the unified one.
    "mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup && "
    "for d in $(awk 'NR > 1 && $2 > 0 && $4 == 1 {h[$2] = h[$2] ? h[$2] \",\" $1 : $1} END {for (i in h) print h[i]}' "
    "/proc/cgroups); do mkdir /sys/fs/cgroup/$d && mount -t cgroup -o $d cgroup /sys/fs/cgroup/$d && "
    "for c in $(echo $d | tr , ' '); do [ $c = $d ] || ln -s $d /sys/fs/cgroup/$c; done; done && "
    "mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified && "
    "mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd && "
    "mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified && exec /sbin/init"
)


def pick_subnet(used: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    for candidate in SUBNET_POOL.subnets(new_prefix=24):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise EnvironmentProblem(f"No free /24 left in {SUBNET_POOL} for a lab network; remove unused Docker networks.")


def lab_containers(name: str) -> list[dict]:
    ids = docker("ps", "-a", "-q", "--filter", f"label={LABEL}={name}").stdout.split()
    return docker_json("inspect", *ids) if ids else []


def host_release(container: dict) -> str:
    """The Debian release a lab host container runs (hosts made before releases were labelled run the default)."""
    return container["Config"]["Labels"].get(f"{LABEL}.release", DEFAULT_RELEASE)


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


def create_host(spec: LabSpec, host: LabHost, image: str) -> None:
    labels = ["--label", f"{LABEL}={spec.name}", "--label", f"{LABEL}.host={host.name}"]
    release = ["--label", f"{LABEL}.release={host.release}"]
    mounts = []
    for volume, mount_point in host.volumes.items():
        docker("volume", "create", *labels, volume)
        mounts += ["-v", f"{volume}:{mount_point}"]
    cgroups, command = (KUBERNETES_CGROUPS, ["/bin/sh", "-c", KUBERNETES_INIT]) if host.kubernetes else (
        SWARM_CGROUPS, [])
    docker("create", "--name", host.container, "--hostname", host.name, "--network", spec.network,
           "--ip", host.address, *labels, *release, *RUN_SECURITY, *cgroups, *mounts,
           "--stop-signal", "SIGRTMIN+3", image, *command)
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


def wait_for_ssh(hosts: list[LabHost], timeout: float = 180.0) -> None:
    # A new host boots in seconds; on a 2-core machine that is also compiling Kubernetes it took over 90 s.
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


@contextlib.contextmanager
def machine_lock():
    """One lab at a time through what labs share on this machine: its Docker Engine install, the base image and
    the pick of a free subnet (two `lab up` at once would otherwise take the same one)."""
    with open(Path(tempfile.gettempdir()) / "dockyard-lab.lock", "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def up(spec: LabSpec, mirror: str, run_playbook, out=print, fresh: bool = False) -> list[LabHost]:
    """Create or converge the lab; running it twice keeps the same hosts, unless ``fresh`` asks for bare ones
    (whatever a lab of that name had is removed first)."""
    with machine_lock():
        ensure_control_machine(run_playbook)
        if fresh:
            down(spec.name, out)
        images = {release: ensure_image(mirror, release, out) for release in sorted(set(spec.host_releases()))}
        subnet = ensure_network(spec)
    ensure_secrets(spec)
    image_contexts(spec.images_dir)
    hosts = spec.layout(subnet)
    wanted = {h.container: h for h in hosts}
    for container in lab_containers(spec.name):
        name = container["Name"].lstrip("/")
        release = host_release(container)
        if name not in wanted or wanted[name].release != release:
            out(f"removing {name}: not among the {spec.hosts} hosts asked for" if name not in wanted
                else f"removing {name}: it runs {release}, {wanted[name].release} was asked for")
            remove_container(container)
            continue
        authorize(spec, name)
        if not container["State"]["Running"]:
            docker("start", name)
        wanted.pop(name, None)
    for host in wanted.values():
        out(f"creating {host.name} ({host.address}, {host.release})")
        create_host(spec, host, images[host.release])
    wait_for_ssh(hosts)
    write_known_hosts(spec, hosts)
    text = render_inventory(spec, hosts, gateway=str(subnet.network_address + 1))
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
    """Kernel features the platform relies on; lab hosts share this machine's kernel (asked as stack_deploy asks
    a host)."""
    has = collection_module("plugins.module_utils._kernel").kernel_module
    features = {}
    features["ipvs"] = ("present" if has("ip_vs", "/proc/net/ip_vs") else
                        "MISSING: the Swarm routing mesh (ingress publishing, VIP load balancing) cannot work on "
                        "these hosts; publish ports with `mode: host` and use `endpoint_mode: dnsrr`")
    features["vxlan"] = "present" if has("vxlan") else "unknown (overlay networks need it)"
    return features


def status(name: str) -> list[dict]:
    """One row per lab host: container state, address, Debian release, Engine version (- where none answers),
    systemd state and whether sshd answers."""
    rows = []
    for container in sorted(lab_containers(name), key=lambda c: c["Config"]["Labels"].get(f"{LABEL}.host", "")):
        networks = container["NetworkSettings"]["Networks"]
        address = next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), "-")
        running = container["State"]["Running"]
        systemd = engine = "-"
        if running:
            probe = docker("exec", container["Id"], "sh", "-c", "systemctl is-system-running; "
                           "docker version --format '{{.Server.Version}}' 2>/dev/null || echo -", check=False)
            lines = probe.stdout.splitlines()
            systemd, engine = (lines[0], lines[-1]) if len(lines) == 2 else (probe.stderr.strip() or "-", "-")
        rows.append({
            "host": container["Config"]["Labels"].get(f"{LABEL}.host", "?"),
            "container": container["Name"].lstrip("/"),
            "state": container["State"]["Status"],
            "address": address,
            "release": host_release(container),
            "engine": engine,
            "systemd": systemd,
            "ssh": "answers" if running and address != "-" and ssh_answers(address) else "no",
        })
    return rows


def fetch(name: str, port: int, path: str = "/", timeout: float = 5.0) -> list[dict]:
    """One row per lab host: what an HTTP GET of http://ADDRESS:PORT/PATH answered (status and the body's first
    line), or why it failed."""
    import urllib.error
    import urllib.request

    rows = []
    for row in status(name):
        url = f"http://{row['address']}:{port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:  # the lab's own subnet only
                body = answer.read().decode("utf-8", "replace").strip()
                said = f"HTTP {answer.status}: {body.splitlines()[0][:60] if body else '(empty)'}"
                ok = answer.status == 200
        except (OSError, urllib.error.URLError) as exc:
            said, ok = f"FAILED: {getattr(exc, 'reason', exc)}", False
        rows.append({"host": row["host"], "url": url, "answer": said, "ok": ok})
    return rows
