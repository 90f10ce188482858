"""The Kubernetes bundle built for real from the pinned Go modules: its commands report the pinned version, its
images load into this machine's Docker Engine and run, a build killed half-way leaves nothing that is taken for a
bundle, and a second build changes nothing. (A warm Go build cache makes it about a minute; a cold machine takes
about 20 minutes once.)"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dockyard.collection import ansible_env, collection_root

pytestmark = pytest.mark.lab  # the images are run by the control machine's Docker Engine

VERSION = "1.37.2"


def build(dest, play_dir, check=False, start_only=False):
    """kube_bundle through ansible-playbook on the control machine, as a role runs it; its result."""
    result_file = play_dir / "result.json"
    play_dir.joinpath("play.yml").write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "tasks": [
            {"dockyard.fleet.kube_bundle": {"version": VERSION, "source": str(collection_root() / "bundles"),
                                            "dest": str(dest)}, "register": "bundle"},
            {"ansible.builtin.copy": {"content": "{{ bundle | to_json }}", "dest": str(result_file)},
             "check_mode": False}]}]))
    argv = [sys.executable, "-m", "ansible", "playbook", "-i", "localhost,", "-c", "local",
            "-e", f"ansible_python_interpreter={sys.executable}", str(play_dir / "play.yml")] + (
        ["--check"] if check else [])
    if start_only:
        return subprocess.Popen(argv, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    proc = subprocess.run(argv, env=ansible_env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(result_file.read_text())


def work_dirs(dest):
    """The directories builds work in (the bundle's lock file beside them is not one)."""
    return [path for path in dest.glob(".kubernetes-*") if path.is_dir()]


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def test_the_bundle_is_built_from_the_pinned_modules_and_runs(tmp_path):
    dest = tmp_path / "bundles"
    predicted = build(dest, tmp_path, check=True)
    assert predicted["changed"] and not list(dest.glob("kubernetes-*"))

    killed = build(dest, tmp_path, start_only=True)  # a build killed half-way, its whole process group
    deadline = time.monotonic() + 120
    while not work_dirs(dest) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(5)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not list(dest.glob("kubernetes-*")), "a killed build left something that looks like a bundle"

    built = build(dest, tmp_path)
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

    again = build(dest, tmp_path)
    assert not again["changed"] and again["reason"].endswith("exists and matches its recorded checksums")
    assert (bundle / "bin" / "kubelet").stat().st_mtime == Path(built["binaries"]["kubelet"]).stat().st_mtime
