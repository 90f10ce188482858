"""kube_bundle's decisions without a build (the build itself: tests/integration/test_kube_bundle.py)."""

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

from ansible_collections.dockyard.fleet.plugins.modules.kube_bundle import (
    checksums_of,
    image_archive,
    sources_hash,
    version_ldflags,
)

BUNDLES = Path(__file__).resolve().parents[4] / "bundles"


def test_the_pinned_modules_replace_every_staging_module_by_its_release():
    for directory in sorted((BUNDLES / "kubernetes").iterdir()):
        minor, patch = directory.name.lstrip("v").split(".")[1:]
        text = (directory / "go.mod").read_text()
        assert f"require k8s.io/kubernetes {directory.name}\n" in text
        replaced = [line.split() for line in text.splitlines() if "=>" in line]
        assert len(replaced) >= 30 and all(old == new and version == f"v0.{minor}.{patch}"
                                           for old, _, new, version in replaced), directory
        assert (directory / "go.sum").stat().st_size > 10_000  # every module verified, not fetched on trust


def test_the_commands_report_the_version_upstream_stamps():
    flags = version_ldflags("1.37.2")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        for stamp in ("gitVersion=v1.37.2", "gitMajor=1", "gitMinor=37", "gitTreeState=clean"):
            assert f"-X {package}.{stamp}" in flags
    assert flags.startswith("-s -w")


def test_an_image_archive_is_the_same_bytes_every_time_and_loads_as_docker_save_writes(tmp_path):
    binary = tmp_path / "etcd"
    binary.write_bytes(b"\x7fELF pretend, only bytes here")
    first, second = tmp_path / "a.tar", tmp_path / "b.tar"
    for path in (first, second):
        image_archive(path, "kubernetes/etcd", "3.7.3-0", {"/usr/local/bin/etcd": str(binary)})
        binary.touch()  # a newer time stamp changes nothing
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == ["kubernetes/etcd:3.7.3-0"]
        config = json.load(archive.extractfile(manifest[0]["Config"]))
        layer = archive.extractfile("layer.tar").read()
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert manifest[0]["Config"] == hashlib.sha256(archive_member(first, manifest[0]["Config"])).hexdigest() + ".json"
    with tarfile.open(fileobj=io.BytesIO(layer)) as inner:
        assert inner.getnames() == ["usr", "usr/local", "usr/local/bin", "usr/local/bin/etcd"]
        assert inner.getmember("usr/local/bin/etcd").mode == 0o755


def archive_member(path, name):
    with tarfile.open(path) as archive:
        return archive.extractfile(name).read()


def test_new_sources_make_a_new_bundle_name(tmp_path):
    source = tmp_path / "v1.37.2"
    shutil.copytree(BUNDLES / "kubernetes" / "v1.37.2", source)
    before = sources_hash([source])
    with open(source / "go.sum", "a", encoding="utf-8") as handle:
        handle.write("example.invalid/x v1.0.0 h1:AAAA=\n")
    assert sources_hash([source]) != before


def test_a_missing_version_fails_naming_the_pinned_ones(run_module, tmp_path):
    result, _ = run_module("kube_bundle", {"version": "1.99.0", "source": str(BUNDLES), "dest": str(tmp_path)})
    assert result["failed"]
    assert result["msg"].startswith(f"No pinned kubernetes module at {BUNDLES}/kubernetes/v1.99.0 (go.mod); the "
                                    "versions there are v1.36.3, v1.37.2.")
    assert not list(tmp_path.iterdir())


def test_check_mode_says_why_it_would_build_and_builds_nothing(run_module, tmp_path):
    result, _ = run_module("kube_bundle", {"version": "1.37.2", "source": str(BUNDLES), "dest": str(tmp_path)},
                           check=True)
    assert result["changed"] and result["reason"].startswith("no bundle kubernetes-v1.37.2-")
    assert result["checksums"] == "" and not list(tmp_path.iterdir())


def test_a_bundle_that_matches_its_record_is_reused_and_a_changed_one_is_not(run_module, tmp_path):
    args = {"version": "1.37.2", "source": str(BUNDLES), "dest": str(tmp_path)}
    name = run_module("kube_bundle", args, check=True)[0]["name"]
    (tmp_path / name / "bin").mkdir(parents=True)
    (tmp_path / name / "bin" / "kubeadm").write_bytes(b"built")
    (tmp_path / f"{name}.sha256").write_text(checksums_of(str(tmp_path), name))
    reused = run_module("kube_bundle", args)[0]
    assert not reused["changed"] and reused["reason"] == f"{name} exists and matches its recorded checksums"
    assert reused["checksums"] == f"{hashlib.sha256(b'built').hexdigest()}  {name}/bin/kubeadm\n"
    (tmp_path / name / "bin" / "kubeadm").write_bytes(b"changed")
    again = run_module("kube_bundle", args, check=True)[0]
    assert again["changed"] and "differs from its recorded checksums" in again["reason"]
