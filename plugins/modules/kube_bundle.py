#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: kube_bundle
short_description: Build a pinned Kubernetes from its upstream Go modules into an offline bundle
description:
  - Runs on the control machine (C(delegate_to=localhost)) and builds, with the machine's Go, the Kubernetes
    commands a kubeadm cluster needs (C(kubeadm), C(kubelet), C(kubectl), C(kube-proxy)) and the control plane's
    container images (C(kube-apiserver), C(kube-controller-manager), C(kube-scheduler), C(etcd), C(coredns),
    C(pause)) from the upstream sources, pinned by the C(go.mod) and C(go.sum) under O(source) (nothing of
    Kubernetes' source is kept in the collection; the Go module proxy serves it and C(go.sum) verifies it).
  - Each command is built with C(CGO_ENABLED=0) and the version stamps upstream's own build sets, so C(kubeadm
    version) says O(version). C(pause) is Kubernetes' own C(build/pause/linux/pause.c) from the same module,
    compiled static with the machine's C compiler. Each image is one layer holding its static binary (C(FROM
    scratch)), written as a C(docker save) archive that C(ctr images import) and C(docker load) read.
  - The bundle's name carries its version, architecture and a hash of its sources, so a bundle that exists is
    reused (changed=false) and new sources make a new one. The SHA-256 of every file is recorded in
    C(<name>.sha256) beside the bundle when it is built; a bundle is reused only when every file still matches,
    and one that does not is built again (the result says why). A build killed half-way leaves no bundle, as it is
    made in a directory of its own and renamed into place whole; the next build removes what it left. Builds of
    one bundle take turns (a lock in O(dest)), so projects may share one O(dest).
version_added: 1.1.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
options:
  version:
    description: Kubernetes version, V(1.37.2); O(source) must hold C(kubernetes/v<version>/go.mod).
    type: str
    required: true
  etcd_version:
    description: etcd version of the etcd image; O(source) must hold C(etcd/v<etcd_version>/go.mod).
    type: str
    default: 3.7.3
  coredns_version:
    description: CoreDNS version of the coredns image; O(source) must hold C(coredns/v<coredns_version>/go.mod).
    type: str
    default: 1.14.6
  pause_version:
    description: The version the pause image says it is (its tag).
    type: str
    default: 3.10.2
  source:
    description: Directory of the pinned Go modules (the collection's C(bundles) directory).
    type: path
    required: true
  dest:
    description: Directory on the control machine that holds bundles (a cache shared by every project of the user).
    type: path
    required: true
attributes:
  check_mode:
    support: full
    details: Says whether the bundle would be built (and why), without building.
  diff_mode:
    support: none
  idempotent:
    support: full
requirements:
  - Go at least as new as the C(go) line of the pinned C(go.mod) files, and a route to a Go module proxy (or a
    module cache that holds the pinned modules)
  - a C compiler that links static binaries (Debian's gcc and libc6-dev), for C(pause)
"""

EXAMPLES = r"""
- name: Build Kubernetes 1.37.2 on the control machine, once per version
  dockyard.fleet.kube_bundle:
    version: 1.37.2
    source: "{{ role_path }}/../../bundles"
    dest: "{{ lookup('env', 'HOME') }}/.cache/dockyard/bundles"
  delegate_to: localhost
  run_once: true
  register: kube_bundle
"""

RETURN = r"""
name:
  description: The bundle's directory name (version, architecture and a hash of its sources).
  returned: always
  type: str
  sample: kubernetes-v1.37.2-amd64-3f1c2a9b0d
path:
  description: The bundle's directory on the control machine.
  returned: always
  type: str
binaries:
  description: Path of each command for the hosts, by name.
  returned: always
  type: dict
images:
  description: Per image, its C(name), C(tag) and C(archive) (a C(docker save) archive).
  returned: always
  type: list
  elements: dict
checksums:
  description: The bundle's files and their SHA-256, as C(sha256sum) writes them (paths start with the name).
  returned: always, once the bundle exists (empty in check mode when it would be built)
  type: str
sha256:
  description: The same checksums by file, relative to the bundle (V(bin/kubelet), V(images/etcd.tar)).
  returned: always, once the bundle exists (empty in check mode when it would be built)
  type: dict
reason:
  description: Why the bundle was (or would be) built, or that it was reused.
  returned: always
  type: str
"""

import fcntl
import glob
import hashlib
import io
import json
import os
import platform
import shutil
import tarfile
import tempfile

from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule

# Bump when the way a bundle is built changes, so that bundles of the old way are not reused.
RECIPE = "1"
COMMANDS = ("kubeadm", "kubelet", "kubectl", "kube-proxy")
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def version_ldflags(version):
    """The stamps upstream's hack/lib/version.sh sets, so that every command reports ``version``."""
    major, minor = version.split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in (
            ("gitVersion", f"v{version}"), ("gitMajor", major), ("gitMinor", minor), ("gitTreeState", "clean"),
            ("buildDate", "1970-01-01T00:00:00Z"))]
    return " ".join(flags)


def image_archive(path, name, tag, files, entrypoint=None):
    """A ``docker save`` archive of one image: one layer of ``files`` ({path in the image: file here}), the same
    bytes for the same files (every time stamp 0)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        made = set()
        for target in sorted(files):
            parts = target.strip("/").split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in made:
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
                    made.add(directory)
            info = tar.gettarinfo(files[target], arcname="/".join(parts))
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o755
            with open(files[target], "rb") as handle:
                tar.addfile(info, handle)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = {"architecture": GOARCH.get(platform.machine(), platform.machine()), "os": "linux",
              "created": "1970-01-01T00:00:00Z",
              "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                         **({"Entrypoint": entrypoint} if entrypoint else {})},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [f"{name}:{tag}"], "Layers": ["layer.tar"]}]
    with tarfile.open(path, mode="w") as tar:
        for member, data in (("layer.tar", layer_bytes), (config_name, config_bytes),
                             ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(member)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))


def sources_hash(directories):
    """A hash of the pinned module files and the recipe: what decides the bundle's content."""
    digest = hashlib.sha256(RECIPE.encode())
    for directory in directories:
        for name in ("go.mod", "go.sum", "tools.go"):
            with open(os.path.join(directory, name), "rb") as handle:
                digest.update(name.encode() + b"\0" + handle.read())
    return digest.hexdigest()[:10]


def checksums_of(root, name):
    lines = []
    for directory, _dirs, files in sorted(os.walk(os.path.join(root, name))):
        for file in sorted(files):
            path = os.path.join(directory, file)
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            lines.append(f"{digest.hexdigest()}  {os.path.relpath(path, root)}")
    return "".join(line + "\n" for line in sorted(lines, key=lambda line: line.split("  ", 1)[1]))


class Bundle:
    def __init__(self, module):
        self.module = module
        p = module.params
        self.version = p["version"].lstrip("v")
        self.arch = GOARCH.get(platform.machine(), platform.machine())
        self.modules = {"kubernetes": os.path.join(p["source"], "kubernetes", f"v{self.version}"),
                        "etcd": os.path.join(p["source"], "etcd", f"v{p['etcd_version']}"),
                        "coredns": os.path.join(p["source"], "coredns", f"v{p['coredns_version']}")}
        for what, directory in self.modules.items():
            if not os.path.isfile(os.path.join(directory, "go.mod")):
                module.fail_json(msg=f"No pinned {what} module at {directory} (go.mod); the versions there are "
                                     f"{', '.join(sorted(os.listdir(os.path.dirname(directory)))) or 'none'}. "
                                     "Nothing was built.")
        self.dest = p["dest"]
        self.name = f"kubernetes-v{self.version}-{self.arch}-{sources_hash(self.modules.values())}"
        self.path = os.path.join(self.dest, self.name)
        self.record = self.path + ".sha256"
        self.images = [{"name": name, "tag": f"v{self.version}", "binary": name, "entrypoint": None}
                       for name in CONTROL_PLANE]
        self.images += [
            {"name": "etcd", "tag": f"{p['etcd_version']}-0", "binary": "etcd", "entrypoint": None},
            {"name": "coredns", "tag": f"v{p['coredns_version']}", "binary": "coredns", "entrypoint": ["/coredns"]},
            {"name": "pause", "tag": p["pause_version"], "binary": "pause", "entrypoint": ["/pause"]},
        ]

    def state(self):
        """(whether it must be built, why)."""
        if not os.path.isdir(self.path) or not os.path.isfile(self.record):
            return True, f"no bundle {self.name} in {self.dest} yet"
        with open(self.record, encoding="utf-8") as handle:
            recorded = handle.read()
        if checksums_of(self.dest, self.name) != recorded:
            return True, f"{self.name} differs from its recorded checksums (a file was changed or removed)"
        return False, f"{self.name} exists and matches its recorded checksums"

    def run(self, argv, cwd, env=None):
        rc, out, err = self.module.run_command(argv, cwd=cwd, environ_update=dict({"LC_ALL": "C"}, **(env or {})))
        if rc != 0:
            self.module.fail_json(
                msg=f"Building the Kubernetes {self.version} bundle on the control machine failed: "
                    f"`{' '.join(argv)}` in {cwd} exited {rc}: {(err.strip() or out.strip())[-2000:]}. Check that "
                    "Go reaches its module proxy (GOPROXY) and is new enough for the go.mod there. No bundle was "
                    "made.", rc=rc, cmd=argv, stdout=out, stderr=err)
        return out

    def build(self):
        """Build under a lock (two projects of the user may share the cache): a bundle another run finished
        meanwhile is taken as it is, and what a killed build left is removed first."""
        os.makedirs(self.dest, exist_ok=True)
        with open(os.path.join(self.dest, f".{self.name}.lock"), "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.state()[0]:
                for stale in glob.glob(os.path.join(self.dest, f".{self.name}-*")):
                    shutil.rmtree(stale, ignore_errors=True)
                self.build_locked()

    def build_locked(self):
        go = self.module.get_bin_path("go", required=True)
        cc = self.module.get_bin_path("gcc", required=True)
        work = tempfile.mkdtemp(prefix=f".{self.name}-", dir=self.dest)
        try:
            out = os.path.join(work, self.name)
            os.makedirs(os.path.join(out, "bin"))
            os.makedirs(os.path.join(out, "images"))
            built = os.path.join(work, "build")
            env = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -trimpath"}
            os.makedirs(built)
            # One go build for all seven: the module graph is loaded once, and the links run side by side.
            self.run([go, "build", f"-ldflags={version_ldflags(self.version)}", "-o", built + os.sep,
                      *(f"k8s.io/kubernetes/cmd/{command}" for command in COMMANDS + CONTROL_PLANE)],
                     self.modules["kubernetes"], env)
            for command in COMMANDS:
                os.replace(os.path.join(built, command), os.path.join(out, "bin", command))
            for what, package in (("etcd", "go.etcd.io/etcd/server/v3"), ("coredns", "github.com/coredns/coredns")):
                self.run([go, "build", "-ldflags=-s -w", "-o", os.path.join(built, what), package],
                         self.modules[what], env)
            kubernetes_dir = self.run([go, "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes"],
                                      self.modules["kubernetes"], env).strip()
            self.run([cc, "-Os", "-static", f"-DVERSION=v{self.module.params['pause_version']}", "-o",
                      os.path.join(built, "pause"), os.path.join(kubernetes_dir, "build/pause/linux/pause.c")], work)
            for image in self.images:
                target = ("/" + image["binary"]) if image["entrypoint"] else f"/usr/local/bin/{image['binary']}"
                image_archive(os.path.join(out, "images", f"{image['name']}.tar"), f"kubernetes/{image['name']}",
                              image["tag"], {target: os.path.join(built, image["binary"])}, image["entrypoint"])
            shutil.rmtree(self.path, ignore_errors=True)
            os.replace(out, self.path)  # whole or not at all
            checksums = checksums_of(self.dest, self.name)
            with open(self.record + ".new", "w", encoding="utf-8") as handle:
                handle.write(checksums)
            os.replace(self.record + ".new", self.record)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def result(self, changed, reason, exists):
        checksums = ""
        if exists:
            with open(self.record, encoding="utf-8") as handle:
                checksums = handle.read()
        pairs = (line.split("  ", 1) for line in checksums.splitlines())
        sha256 = {path.split("/", 1)[1]: digest for digest, path in pairs}
        return {"changed": changed, "reason": reason, "name": self.name, "path": self.path, "checksums": checksums,
                "sha256": sha256,
                "binaries": {c: os.path.join(self.path, "bin", c) for c in COMMANDS},
                "images": [{"name": i["name"], "tag": i["tag"],
                            "archive": os.path.join(self.path, "images", f"{i['name']}.tar")} for i in self.images]}


def main():
    module = DockyardModule(
        argument_spec={
            "version": {"type": "str", "required": True},
            "etcd_version": {"type": "str", "default": "3.7.3"},
            "coredns_version": {"type": "str", "default": "1.14.6"},
            "pause_version": {"type": "str", "default": "3.10.2"},
            "source": {"type": "path", "required": True},
            "dest": {"type": "path", "required": True},
        },
        engine=False,
        supports_check_mode=True,
    )
    bundle = Bundle(module)
    needed, reason = bundle.state()
    if needed and not module.check_mode:
        bundle.build()
    module.exit_json(**bundle.result(needed, reason, exists=not needed or not module.check_mode))


if __name__ == "__main__":
    main()
