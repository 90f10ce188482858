"""The Kubernetes bundle built for real from the pinned Go modules: its commands report the pinned version, its
images load into this machine's Docker Engine and run, a build killed half-way leaves nothing that is taken for a
bundle, and a second build changes nothing. (A warm Go build cache makes it about a minute; a cold machine takes
about 20 minutes once.)"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import kube_bundle

pytestmark = pytest.mark.lab  # the images are run by the control machine's Docker Engine

VERSION = "1.37.2"


def work_dirs(dest):
    """The directories builds work in (the bundle's lock file beside them is not one)."""
    return [path for path in dest.glob(".kubernetes-*") if path.is_dir()]


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def test_the_bundle_is_built_from_the_pinned_modules_and_runs(tmp_path):
    dest = tmp_path / "bundles"
    predicted = kube_bundle(tmp_path, VERSION, dest, check=True)
    assert predicted["changed"] and not list(dest.glob("kubernetes-*"))

    killed = kube_bundle(tmp_path, VERSION, dest, start_only=True)  # a build killed half-way, its whole process group
    deadline = time.monotonic() + 120
    while not work_dirs(dest) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(5)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not list(dest.glob("kubernetes-*")), "a killed build left something that looks like a bundle"

    built = kube_bundle(tmp_path, VERSION, dest)
    assert built["changed"] and built["reason"].startswith("no bundle")
    assert not work_dirs(dest), "what the killed build left was not removed"
    bundle = Path(built["path"])
    assert built["name"].startswith(f"kubernetes-v{VERSION}-amd64-")
    for command, argv in (("kubeadm", ["version", "-o", "short"]), ("kubelet", ["--version"]),
                          ("kube-proxy", ["--version"]), ("kubectl", ["version", "--client"])):
        out = subprocess.run([built["binaries"][command], *argv], capture_output=True, text=True, check=True).stdout
        assert f"v{VERSION}" in out, (command, out)
    recorded = (dest / f"{built['name']}.sha256").read_text()
    assert recorded == built["checksums"] and len(recorded.splitlines()) == 10  # 4 commands, 6 images
    assert subprocess.run(["sha256sum", "--check", "--strict", "--quiet", "-"], input=recorded, text=True,
                          cwd=dest, check=False).returncode == 0

    images = {image["name"]: image for image in built["images"]}
    assert set(images) == {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "coredns", "pause"}
    try:
        for image in images.values():
            assert f"kubernetes/{image['name']}:{image['tag']}" in docker("load", "-i", image["archive"])
        for name, argv, said in (("kube-apiserver", ["kube-apiserver", "--version"], f"Kubernetes v{VERSION}"),
                                 ("etcd", ["etcd", "--version"], "etcd Version: 3.7.3"),
                                 ("coredns", ["-version"], "CoreDNS-1.14.6"),
                                 ("pause", ["-v"], "pause.c v3.10.2")):
            tag = f"kubernetes/{name}:{images[name]['tag']}"
            assert said in docker("run", "--rm", "--network", "none", tag, *argv), name
    finally:
        subprocess.run(["docker", "rmi", "-f", *(f"kubernetes/{i['name']}:{i['tag']}" for i in images.values())],
                       capture_output=True, check=False)

    again = kube_bundle(tmp_path, VERSION, dest)
    assert not again["changed"] and again["reason"].endswith("exists and matches its recorded checksums")
    assert (bundle / "bin" / "kubelet").stat().st_mtime == Path(built["binaries"]["kubelet"]).stat().st_mtime
