import shutil
import subprocess
from pathlib import Path

import pytest

KEY = Path(__file__).resolve().parents[3] / "roles/engine/files/docker-ce-archive-keyring.asc"


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg reads the key's fingerprint")
def test_shipped_docker_key_is_dockers_release_key():
    out = subprocess.run(["gpg", "--show-keys", "--with-colons", str(KEY)], capture_output=True, text=True,
                         check=True).stdout
    fingerprints = [line.split(":")[9] for line in out.splitlines() if line.startswith("fpr")]
    assert fingerprints[0] == "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"  # as published by Docker
