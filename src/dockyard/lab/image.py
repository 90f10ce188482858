"""The lab's images, built on this machine: the hosts' Debian base image (debootstrap, cached by the hash of its
recipe) and the build contexts of the images the lab's registry serves (no registry is reachable here)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from dockyard.collection import collection_module, collection_root
from dockyard.errors import DockyardError, EnvironmentProblem
from dockyard.lab.docker import docker, docker_json, engine_answers

IMAGE_REPO = "dockyard/lab-host"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

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
# The Debian releases a lab host can run (the engine role is tested on each): Engine 20.10 and 26.1 from Debian.
RELEASES = ("bookworm", "trixie")
DEFAULT_RELEASE = "bookworm"


def recipe_hash(release: str = DEFAULT_RELEASE) -> str:
    recipe = {"suite": release, "packages": PACKAGES, "masked": MASKED_UNITS, "files": FILES,
              "changes": IMPORT_CHANGES}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def image_tag(release: str = DEFAULT_RELEASE) -> str:
    return f"{IMAGE_REPO}:{release}-{recipe_hash(release)}"


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (the lab must reach the same one)."""
    sources = collection_module("plugins.module_utils._apt").apt_sources(str(sources_dir))
    return next((source["uri"] for source in sources if DEFAULT_RELEASE in source["suites"]), DEFAULT_MIRROR)


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


def ensure_image(mirror: str, release: str = DEFAULT_RELEASE, out=print) -> str:
    tag = image_tag(release)
    if docker_json("image", "inspect", tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem("debootstrap is not installed; `dockyard lab up` installs it with playbooks/lab.yml.")
    out(f"building lab base image {tag} ({release}) with debootstrap from {mirror} (about a minute, once)")
    with tempfile.TemporaryDirectory(prefix="dockyard-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), release, str(rootfs), mirror]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
            raise EnvironmentProblem(
                f"debootstrap failed (exit {proc.returncode}) building the {release} lab image from {mirror}:\n{tail}\n"
                "Check that this Debian mirror is reachable from this machine, or pass --mirror URL."
            )
        customize_rootfs(rootfs)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        changes = [arg for change in IMPORT_CHANGES for arg in ("--change", change)]
        message = f"dockyard lab host, {release}, recipe {recipe_hash(release)}"
        docker("import", *changes, "-m", message, "-", tag, stdin=tar.stdout)
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
