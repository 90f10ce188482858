#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: engine_bundle
short_description: Build an offline bundle of Docker Engine .deb packages on the control machine
description:
  - Runs on the control machine (C(delegate_to=localhost)) and downloads the Engine packages of the hosts'
    Debian release and architecture, and every dependency that is not part of a minimal Debian system (priority
    C(required)), into a flat apt repository (C(Packages) index) packed as one tar archive.
  - It runs apt with a configuration of its own (its own source list, package lists and status, under
    O(dest)/.apt/), so the control machine may run another release than the hosts (a Debian 12 control machine
    builds a Debian 13 bundle) and its own apt state is never touched. The package lists are fetched when missing
    or older than O(cache_valid_time).
  - Hosts without a route to any package mirror then install from that repository alone
    (see the engine role's C(engine_source=bundle)).
  - The bundle's name carries a hash of its package list, release and architecture, so a bundle that exists is
    reused (changed=false) and a new package version makes a new bundle.
  - The SHA-256 of every file in the bundle is recorded when it is built, in C(<name>.sha256) next to the archive
    (outside it). A bundle that exists is reused only when every file in its archive still matches; otherwise the
    module fails naming the file. The checksums are returned, so the hosts verify their unpacked copy against the
    control machine's record before installing (the engine role does).
version_added: 1.0.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
options:
  packages:
    description: Packages to bundle with their dependencies.
    type: list
    elements: str
    required: true
  version:
    description: apt version glob the packages in O(packages) must match (V(20.10.24*)); empty takes apt's candidate.
    type: str
    default: ""
  dest:
    description: Directory on the control machine that holds bundles.
    type: path
    required: true
  install_root:
    description: Directory on the hosts the bundle is unpacked into; written into the bundle's apt source line.
    type: path
    default: /var/cache/dockyard
  release:
    description: Debian codename of the hosts (V(bookworm), V(trixie)); empty takes the control machine's.
    type: str
    default: ""
  architecture:
    description: dpkg architecture of the hosts (V(amd64), V(arm64)); empty takes the control machine's.
    type: str
    default: ""
  sources:
    description:
      - apt source lines (one-line format) to download from.
      - Empty takes the control machine's own Debian sources (its release, C(-updates) and C(-security) suites)
        with the suites moved to O(release).
    type: list
    elements: str
    default: []
  cache_valid_time:
    description: Seconds the downloaded package lists stay valid before they are fetched again.
    type: int
    default: 3600
attributes:
  check_mode:
    support: full
    details: Resolves the packages and reports whether a bundle would be built, without downloading a package
      (the package lists of its own apt cache are fetched when missing or stale, as in a real run).
  diff_mode:
    support: none
  idempotent:
    support: full
requirements:
  - a Debian-family control machine with apt, apt-cache and dpkg-deb, and a route to the release's mirror
"""

EXAMPLES = r"""
- name: Build a Debian 13 Engine bundle on the control machine, whatever release it runs
  dockyard.fleet.engine_bundle:
    packages: [docker.io, docker-cli]
    release: trixie
    architecture: amd64
    dest: "{{ playbook_dir }}/../.dockyard/bundles"
  delegate_to: localhost
  run_once: true
  register: bundle
"""

RETURN = r"""
name:
  description: The bundle's directory name (release, architecture and content hash).
  returned: always
  type: str
  sample: bookworm-amd64-3f1c2a9b0d4e
archive:
  description: Path of the tar archive on the control machine.
  returned: always
  type: str
release:
  description: Debian codename the bundle was built for.
  returned: always
  type: str
architecture:
  description: dpkg architecture the bundle was built for.
  returned: always
  type: str
packages:
  description: C(name=version) of every package in the bundle.
  returned: always
  type: list
  elements: str
checksums:
  description: The bundle's files and their SHA-256, as C(sha256sum) writes them (paths start with the bundle's
    directory name).
  returned: always, once the bundle exists (empty in check mode when it would be built)
  type: str
"""

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time

from ansible_collections.dockyard.fleet.plugins.module_utils._apt import release_sources
from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule


class Apt:
    """apt-get and apt-cache with a configuration of their own under ``root``: the sources of one release and
    architecture, their package lists and an empty status (the bundle is for hosts, not for this machine)."""

    def __init__(self, module, root, sources, architecture):
        self.module, self.root = module, root
        for sub in ("lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        self.options = []
        for key, value in (("Dir::Etc::SourceList", "sources.list"), ("Dir::State::Lists", "lists"),
                           ("Dir::Cache", "cache"), ("Dir::State::status", "status")):
            self.options += ["-o", f"{key}={os.path.join(root, value)}"]
        self.options += ["-o", "Dir::Etc::SourceParts=-", "-o", "Dir::Etc::PreferencesParts=-",
                         "-o", "Dir::Etc::Preferences=-", "-o", f"APT::Architecture={architecture}",
                         "-o", f"APT::Architectures={architecture}", "-o", "APT::Sandbox::User=root"]
        text = "".join(line + "\n" for line in sources)
        if self.read("sources.list") != text:
            self.write("sources.list", text)
            self.write("updated", "")  # other sources: the lists are fetched again
        if self.read("status") is None:
            self.write("status", "")

    def read(self, name):
        try:
            with open(os.path.join(self.root, name), encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write(self, name, text):
        """Whole or not at all: a run killed half-way leaves the previous file, never a torn one."""
        path = os.path.join(self.root, name)
        with open(path + ".new", "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(path + ".new", path)

    def update(self, valid_for):
        """Fetch the package lists when they are missing or older than ``valid_for`` seconds; returns their
        time stamp (a new one means other package versions may be chosen)."""
        stamp = self.read("updated") or ""
        if not stamp or time.time() - float(stamp) > valid_for:
            self.run("apt-get", "update", "-q")
            stamp = str(time.time())
            self.write("updated", stamp)
        return stamp

    def run(self, tool, *args, cwd=None):
        return run(self.module, [tool, *self.options, *args], cwd=cwd)


def run(module, argv, cwd=None):
    rc, out, err = module.run_command(argv, cwd=cwd, environ_update={"LC_ALL": "C"})
    if rc != 0:
        module.fail_json(msg=f"Building the Engine bundle on the control machine failed: `{' '.join(argv)}` "
                             f"exited {rc}: {err.strip() or out.strip()}. Check that the control machine reaches "
                             "the mirrors of the bundle's sources, and that they have the packages asked for.")
    return out


def stanzas(text):
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields:
            yield fields


def resolve(apt, packages, version):
    """name -> version of the packages and their dependencies, minus those every Debian system has."""
    out = apt.run("apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                  "--no-breaks", "--no-replaces", "--no-enhances", *packages)
    names = sorted({line.split(":")[0] for line in out.splitlines() if line and line[0] not in " <"})
    chosen = {}
    for fields in stanzas(apt.run("apt-cache", "show", "--no-all-versions", *names)):
        if fields.get("Priority") != "required" or fields["Package"] in packages:
            chosen[fields["Package"]] = fields["Version"]
    if version:
        for fields in stanzas(apt.run("apt-cache", "show", *[f"{name}={version}" for name in packages])):
            chosen[fields["Package"]] = fields["Version"]
    return chosen


def resolve_cached(apt, packages, version, valid_for):
    """resolve(), remembered beside the package lists until they are fetched again (apt-cache takes about a
    second)."""
    key = json.dumps([packages, version, apt.update(valid_for)])
    saved = json.loads(apt.read("resolved.json") or "{}")
    if saved.get("key") != key:
        saved = {"key": key, "chosen": resolve(apt, packages, version)}
        apt.write("resolved.json", json.dumps(saved))
    return saved["chosen"]


def write_index(module, directory):
    entries = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".deb"):
            continue
        path = os.path.join(directory, name)
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        control = run(module, ["dpkg-deb", "--field", path]).rstrip("\n")
        entries.append(f"{control}\nFilename: ./{name}\nSize: {os.path.getsize(path)}\nSHA256: {digest}\n")
    with open(os.path.join(directory, "Packages"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(entries))


def sha256_of(handle):
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def archive_checksums(archive):
    """path -> SHA-256 of every file in the archive."""
    with tarfile.open(archive) as tar:
        return {member.name: sha256_of(tar.extractfile(member)) for member in tar if member.isfile()}


def read_checksums(path):
    with open(path, encoding="utf-8") as handle:
        return dict(reversed(line.split("  ", 1)) for line in handle.read().splitlines() if line)


def checksums_text(checksums):
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(checksums.items()))


def verify(module, archive, manifest):
    """Fail naming the first file of the archive that is not as it was built."""
    recorded = read_checksums(manifest)
    found = archive_checksums(archive)
    for name in sorted(set(recorded) | set(found)):
        if recorded.get(name) != found.get(name):
            what = "is missing" if name not in found else "was added" if name not in recorded else "differs"
            module.fail_json(msg=f"The Engine bundle {archive} on the control machine is not as it was built: {name} "
                                 f"{what} (SHA-256 recorded in {manifest}). Nothing was installed from it. Remove "
                                 f"{archive} and {manifest} to build it again, and find out what changed it.")
    return checksums_text(recorded)


def main():
    module = DockyardModule(
        argument_spec={
            "packages": {"type": "list", "elements": "str", "required": True},
            "version": {"type": "str", "default": ""},
            "dest": {"type": "path", "required": True},
            "install_root": {"type": "path", "default": "/var/cache/dockyard"},
            "release": {"type": "str", "default": ""},
            "architecture": {"type": "str", "default": ""},
            "sources": {"type": "list", "elements": "str", "default": []},
            "cache_valid_time": {"type": "int", "default": 3600},
        },
        engine=False,
        supports_check_mode=True,
    )
    params = module.params
    own_release = run(module, ["sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME"]).strip()
    release = params["release"] or own_release
    arch = params["architecture"] or run(module, ["dpkg", "--print-architecture"]).strip()
    sources = params["sources"] or release_sources(own_release, release)
    if not sources:
        module.fail_json(msg=f"Building the {release}/{arch} Engine bundle on the control machine: its apt has no "
                             f"Debian source of its own release ({own_release!r}) to ask for {release}. Give the "
                             "sources to download from (the engine role's engine_bundle_sources).")
    apt = Apt(module, os.path.join(params["dest"], ".apt", f"{release}-{arch}"), sources, arch)
    chosen = resolve_cached(apt, params["packages"], params["version"], params["cache_valid_time"])
    pinned = sorted(f"{name}={version}" for name, version in chosen.items())
    digest = hashlib.sha256(json.dumps([release, arch, pinned, params["install_root"]]).encode()).hexdigest()
    name = f"{release}-{arch}-{digest[:12]}"
    archive = os.path.join(os.path.normpath(params["dest"]), name + ".tar")
    manifest = archive[: -len(".tar")] + ".sha256"
    # A bundle from before checksums were recorded (no manifest) is built again.
    built = os.path.exists(archive) and os.path.exists(manifest)
    result = {"name": name, "archive": archive, "release": release, "architecture": arch, "packages": pinned,
              "changed": not built, "checksums": verify(module, archive, manifest) if built else ""}
    if not result["changed"] or module.check_mode:
        module.exit_json(**result)

    os.makedirs(params["dest"], exist_ok=True)
    work = tempfile.mkdtemp(dir=params["dest"], prefix=".building-")
    try:
        bundle = os.path.join(work, name)
        os.mkdir(bundle)
        apt.run("apt-get", "download", *pinned, cwd=bundle)
        write_index(module, bundle)
        with open(os.path.join(bundle, "bundle.list"), "w", encoding="utf-8") as handle:
            handle.write(f"deb [trusted=yes] file:{params['install_root']}/{name} ./\n")
        with open(os.path.join(bundle, "bundle.json"), "w", encoding="utf-8") as handle:
            json.dump({"release": release, "architecture": arch, "packages": pinned}, handle, indent=2)
        with tarfile.open(os.path.join(work, "bundle.tar"), "w") as tar:
            tar.add(bundle, arcname=name)
        result["checksums"] = checksums_text(archive_checksums(os.path.join(work, "bundle.tar")))
        with open(os.path.join(work, "bundle.sha256"), "w", encoding="utf-8") as handle:
            handle.write(result["checksums"])
        os.replace(os.path.join(work, "bundle.sha256"), manifest)
        os.replace(os.path.join(work, "bundle.tar"), archive)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
