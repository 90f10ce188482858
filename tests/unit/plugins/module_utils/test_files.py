import os

import pytest
from ansible_collections.dockyard.fleet.plugins.module_utils._files import write_atomically


def test_a_write_that_fails_leaves_the_old_file_and_nothing_beside_it(tmp_path, monkeypatch):
    path = tmp_path / "daemon.json"
    write_atomically(str(path), "old\n", 0o600)
    assert path.read_text() == "old\n" and path.stat().st_mode & 0o777 == 0o600

    def full_disk(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(str(path), "new\n", 0o600)
    assert [p.name for p in tmp_path.iterdir()] == ["daemon.json"] and path.read_text() == "old\n"
