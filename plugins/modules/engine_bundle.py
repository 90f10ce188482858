#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: engine_bundle
short_description: Build an offline bundle of Docker Engine .deb packages on the control machine
description:
  - Runs on the control machine (C(delegate_to=localhost)) and uses its apt to download the Engine packages
    and every dependency that is not part of a minimal Debian system (priority C(required)), into a flat apt
    repository (C(Packages) index) packed as one tar archive.
  - Hosts without a route to any package mirror then install from that repository alone
    (see the engine role's C(engine_source=bundle)).
  - The bundle's name carries a hash of its package list, release and architecture, so a bundle that exists is
    reused (changed=false) and a new package version makes a new bundle.
  - The SHA-256 of every file in the bundle is recorded when it is built, in C(<name>.sha256) next to the archive
    (outside it). A bundle that exists is reused only when every file in its archive still matches; otherwise the
    module fails naming the file. The checksums are returned, so the hosts verify their unpacked copy against the
    control machine's record before installing (the engine role does).
  - The control machine must run the same Debian release and architecture as the hosts; the bundle records
    both and the engine role checks them.
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
attributes:
  check_mode:
    support: full
    details: Resolves the packages and reports whether a bundle would be built, without downloading.
  diff_mode:
    support: none
  idempotent:
    support: full
requirements:
  - a Debian-family control machine with apt, apt-cache and dpkg-deb
"""

EXAMPLES = r"""
- name: Build the Engine bundle on the control machine
  dockyard.fleet.engine_bundle:
    packages: [docker.io]
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

from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule


def run(module, argv, cwd=None):
    rc, out, err = module.run_command(argv, cwd=cwd, environ_update={"LC_ALL": "C"})
    if rc != 0:
        module.fail_json(msg=f"Building the Engine bundle on the control machine failed: `{' '.join(argv)}` "
                             f"exited {rc}: {err.strip() or out.strip()}. If apt cannot find a package, run "
                             "`apt-get update` on the control machine.")
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


def resolve(module, packages, version):
    """name -> version of the packages and their dependencies, minus those every Debian system has."""
    out = run(module, ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                       "--no-breaks", "--no-replaces", "--no-enhances", *packages])
    names = sorted({line.split(":")[0] for line in out.splitlines() if line and line[0] not in " <"})
    chosen = {}
    for fields in stanzas(run(module, ["apt-cache", "show", "--no-all-versions", *names])):
        if fields.get("Priority") != "required" or fields["Package"] in packages:
            chosen[fields["Package"]] = fields["Version"]
    if version:
        for fields in stanzas(run(module, ["apt-cache", "show", *[f"{name}={version}" for name in packages]])):
            chosen[fields["Package"]] = fields["Version"]
    return chosen


def resolve_cached(module, packages, version, dest):
    """resolve(), remembered in ``dest`` until apt's package lists change (apt-cache takes about a second)."""
    lists = "/var/lib/apt/lists"
    stamp = max((os.stat(os.path.join(lists, n)).st_mtime_ns for n in os.listdir(lists)), default=0) \
        if os.path.isdir(lists) else 0
    key = hashlib.sha256(json.dumps([packages, version, stamp]).encode()).hexdigest()
    cache = os.path.join(dest, ".resolved.json")
    try:
        with open(cache, encoding="utf-8") as handle:
            saved = json.load(handle)
        if saved.get("key") == key:
            return saved["chosen"]
    except (FileNotFoundError, ValueError):
        pass
    chosen = resolve(module, packages, version)
    if not module.check_mode:
        os.makedirs(dest, exist_ok=True)
        with open(cache, "w", encoding="utf-8") as handle:
            json.dump({"key": key, "chosen": chosen}, handle)
    return chosen


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
        },
        engine=False,
        supports_check_mode=True,
    )
    params = module.params
    release = run(module, ["sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME"]).strip()
    arch = run(module, ["dpkg", "--print-architecture"]).strip()
    chosen = resolve_cached(module, params["packages"], params["version"], params["dest"])
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
        run(module, ["apt-get", "download", *pinned], cwd=bundle)
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
