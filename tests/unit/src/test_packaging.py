"""How dockyard is packed: the galaxy collection (only what a collection holds), the execution environment built
from it, and where the runner finds the collection and keeps its state."""

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from dockyard.collection import ansible_env

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("galaxy")
    subprocess.run([sys.executable, "-m", "ansible", "galaxy", "collection", "build", "--output-path", str(out),
                    str(ROOT)], check=True, capture_output=True, env=ansible_env())
    (built,) = out.glob("dockyard-fleet-*.tar.gz")
    return built


def test_the_built_collection_holds_only_what_a_collection_holds(tarball):
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"CHANGELOG.md", "FILES.json", "MANIFEST.json", "README.md", "bundles", "docs", "examples", "meta",
                    "playbooks", "plugins", "roles"}
    assert "plugins/modules/host_files.py" in names and "roles/engine/meta/argument_specs.yml" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_the_execution_environment_carries_the_collection_and_what_it_needs_on_the_control_node(tarball, tmp_path):
    """`make ee` as a test: ansible-builder makes the build context of the shipped execution-environment.yml,
    and its galaxy stage's install and introspection, run here, find the collection's own requirements."""
    shutil.copy(ROOT / "execution-environment.yml", tmp_path)
    (tmp_path / "dist").mkdir()
    shutil.copy(tarball, tmp_path / "dist" / "dockyard-fleet.tar.gz")
    builder = Path(sys.executable).with_name("ansible-builder")
    subprocess.run([builder, "create", "-f", "execution-environment.yml", "-c", "dist/ee"], cwd=tmp_path,
                   check=True, capture_output=True)
    build = tmp_path / "dist" / "ee" / "_build"
    (containerfile,) = [p for p in build.parent.iterdir() if p.name in ("Containerfile", "Dockerfile")]
    assert "ansible-galaxy collection install" in containerfile.read_text()
    assert (build / "collections" / "dockyard-fleet.tar.gz").read_bytes() == tarball.read_bytes()

    subprocess.run([sys.executable, "-m", "ansible", "galaxy", "collection", "install", "-r", "requirements.yml",
                    "-p", str(tmp_path / "installed")], cwd=build, check=True, capture_output=True)
    needs = subprocess.run([sys.executable, build / "scripts" / "introspect.py", "introspect", tmp_path / "installed"],
                           check=True, capture_output=True, text=True).stdout
    assert "cryptography>=3.4  # from collection dockyard.fleet" in needs
    assert "openssh-clients [platform:rpm]  # from collection dockyard.fleet" in needs


def test_an_installed_wheels_collection_is_used_as_it_is_and_a_checkout_is_linked(tmp_path, monkeypatch):
    from dockyard import collection

    assert collection.collection_root() == ROOT  # an editable install: the checkout
    assert (collection.collections_path() / "ansible_collections/dockyard/fleet").resolve() == ROOT
    packaged = tmp_path / "collection"
    (packaged / "ansible_collections/dockyard/fleet").mkdir(parents=True)
    (packaged / "ansible_collections/dockyard/fleet/galaxy.yml").write_text("name: fleet\n")
    monkeypatch.setattr(collection, "PACKAGED", packaged)
    assert collection.collection_root() == packaged / "ansible_collections/dockyard/fleet"
    assert collection.collections_path() == packaged
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["ansible_collections", "collection", "dockyard",
                                                            "fleet", "galaxy.yml"]  # no link, no state


def test_the_state_directory_is_the_projects_unless_dockyard_state_dir_says(tmp_path, monkeypatch):
    from dockyard.collection import state_root

    monkeypatch.delenv("DOCKYARD_STATE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert state_root() == tmp_path / ".dockyard"
    monkeypatch.setenv("DOCKYARD_STATE_DIR", str(tmp_path / "elsewhere"))
    assert state_root() == tmp_path / "elsewhere"
