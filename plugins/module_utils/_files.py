# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files the modules write: whole or not at all."""

import os
import tempfile


def write_atomically(path, data, mode, dir_mode=0o755, owner=None):
    """Write ``data`` (str or bytes) to ``path`` with ``mode`` (and ``owner``, a (uid, gid) pair, when given): a
    temporary file in the same directory (made with ``dir_mode`` when missing), synced, then renamed over the old
    one, so a reader sees the old content or the new, never part of it."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=dir_mode, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".dockyard-")
    try:
        try:
            os.fchmod(handle, mode)
            if owner is not None:
                os.fchown(handle, *owner)
            os.write(handle, data.encode() if isinstance(data, str) else data)
            os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)  # a full disk, a bad owner: no part-written file is left beside the old one
        raise
