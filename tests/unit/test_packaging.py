"""What `ansible-galaxy collection build` packs: the collection's own parts, nothing of the runner's development."""

import subprocess
import sys
import tarfile
from pathlib import Path

from dockyard.collection import ansible_env

ROOT = Path(__file__).resolve().parents[2]


def test_the_built_collection_holds_only_what_a_collection_holds(tmp_path):
    subprocess.run([sys.executable, "-m", "ansible", "galaxy", "collection", "build", "--output-path", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True, env=ansible_env())
    (tarball,) = tmp_path.glob("dockyard-fleet-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"CHANGELOG.md", "FILES.json", "MANIFEST.json", "README.md", "docs", "examples", "meta",
                    "playbooks", "plugins", "roles"}
    assert "plugins/modules/host_files.py" in names and "roles/engine/meta/argument_specs.yml" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
