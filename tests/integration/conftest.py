import json
import subprocess
import sys

import pytest

LAB = "itest"
CONTAINERS = [f"dockyard-{LAB}-node{i}" for i in (1, 2, 3)]


def dockyard(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"dockyard {' '.join(args)} exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def on_host(container, *argv):
    """Run a command inside a lab host and return its stdout (asserting on the host itself)."""
    return subprocess.run(["docker", "exec", container, *argv], capture_output=True, text=True,
                          check=True).stdout.strip()


def labelled(kind, name=LAB):
    """IDs of containers, networks or volumes carrying the lab's label."""
    base = ["docker", kind, "ls", "-q"] if kind != "container" else ["docker", "ps", "-a", "-q"]
    out = subprocess.run([*base, "--filter", f"label=dockyard.lab={name}"], capture_output=True, text=True,
                         check=True).stdout
    return sorted(out.split())


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A 3-host lab for the whole session; removed at the end, whatever happened."""
    inventory_dir = tmp_path_factory.mktemp("lab")
    try:
        dockyard("lab", "up", "--hosts", "3", "--name", LAB, "--inventory-dir", str(inventory_dir))
        yield inventory_dir
    finally:
        dockyard("lab", "down", "--name", LAB)


def docker_info(container):
    return json.loads(on_host(container, "docker", "info", "--format", "{{json .}}"))


BUSYBOX = "dockyard/busybox:test"


@pytest.fixture(scope="session")
def busybox_image(tmp_path_factory):
    """A tiny image (Debian's static busybox, FROM scratch) built here: no registry is reachable."""
    if subprocess.run(["docker", "image", "inspect", BUSYBOX], capture_output=True, check=False).returncode:
        work = tmp_path_factory.mktemp("busybox")
        subprocess.run(["apt-get", "download", "busybox-static"], cwd=work, check=True, capture_output=True)
        deb = next(work.glob("busybox-static_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "root")], check=True)
        subprocess.run(f"tar -C {work / 'root'} -c bin/busybox | docker import -c 'ENTRYPOINT [\"/bin/busybox\"]'"
                       f" - {BUSYBOX}", shell=True, check=True, capture_output=True)
    return BUSYBOX


def load_image(container, image):
    """docker save | docker load into a lab host's Engine."""
    subprocess.run(f"docker save {image} | docker exec -i {container} docker load", shell=True, check=True,
                   capture_output=True)
