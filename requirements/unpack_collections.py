"""`make setup`'s collections: the ones requirements/collections.txt names, taken from a hash-checked wheel.

python requirements/unpack_collections.py   (the venv's python: into its site-packages/ansible_collections)

Ansible finds collections under ansible_collections/ on sys.path, so the venv's site-packages is where they go;
only the collections named in KEEP are unpacked, not the other hundred the wheel carries.
"""

import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

KEEP = ("ansible_collections/kubernetes/core/",)
LOCK = Path(__file__).with_name("collections.txt")


def main() -> int:
    target = Path(sysconfig.get_paths()["purelib"])
    with tempfile.TemporaryDirectory() as download:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-deps", "--require-hashes", "-r", str(LOCK), "-d", download], check=True)
        (wheel,) = Path(download).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            members = [name for name in archive.namelist() if name.startswith(KEEP)]
            archive.extractall(target, members)
    print(f"requirements/unpack_collections.py: {len(members)} files of {', '.join(KEEP)} from {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
