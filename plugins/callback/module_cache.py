# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: module_cache
type: aggregate
short_description: Keep the packed modules of ansible.builtin and dockyard.fleet from one run to the next
description:
  - Before Ansible sends a module to a host it packs it with every C(module_utils) file it imports (AnsiballZ),
    parsing each of them. Ansible keeps the packed modules for one run only, in its temporary directory; on a
    converged cluster packing the twenty-odd modules of a run costs the control machine about as much CPU as
    everything else it does.
  - This plugin copies the packed modules of C(ansible.builtin) and C(dockyard.fleet) into that directory when
    the run starts, from a cache kept in E(DOCKYARD_MODULE_CACHE) (the runner sets it to
    C(~/.cache/dockyard/modules)), and copies the ones the run packed back when it ends.
  - The cache is kept per ansible-core version, Python version and place and content of the collection's
    C(plugins/), so a change to any module or module_utils file of the collection, or another ansible-core,
    starts a new one.
  - Without E(DOCKYARD_MODULE_CACHE) the plugin does nothing.
version_added: 1.1.0
author: dockyard developers (@dockyard)
requirements:
  - enable in callbacks_enabled (the runner does this)
"""

import hashlib
import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

from ansible import constants as C
from ansible.module_utils.ansible_release import __version__ as ANSIBLE_VERSION
from ansible.plugins.callback import CallbackBase

# Packed modules whose content the key below covers; any other collection's are left to Ansible.
PREFIXES = ("ansible.modules.", "ansible_collections.dockyard.fleet.")


def cache_key():
    """ansible-core's version and place, Python's version, and the place and content of this collection's plugins/
    (a packed module names the files it was packed from)."""
    digest = hashlib.sha256(f"{ANSIBLE_VERSION} {C.__file__} {sys.version} {__file__}".encode())
    plugins = Path(__file__).resolve().parents[1]
    for path in sorted(plugins.rglob("*.py")):
        digest.update(str(path.relative_to(plugins)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def ours(name):
    return name.startswith(PREFIXES) and not name.endswith((".lock", "-part"))


def untrusted(kept):
    """Why the packed modules under ``kept`` must not be run, or "": Ansible runs what it finds there, so a cache
    that another user owns or may write to would run their code."""
    for place in (kept.parent, kept):
        try:
            info = place.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            return f"{place} is a link"
        if info.st_uid != os.getuid():
            return f"{place} is owned by uid {info.st_uid}, not by you"
        if info.st_mode & 0o022:
            return f"{place} is writable by others ({stat.filemode(info.st_mode)})"
    return ""


def copy_into(source, target):
    """Copy the packed modules ``source`` has and ``target`` lacks; each file appears whole or not at all. A cache
    that cannot be read or written (another run pruning it, a full disk) costs only the packing, never the run."""
    try:
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        for entry in source.iterdir():
            if ours(entry.name) and not (target / entry.name).exists():
                handle, tmp = tempfile.mkstemp(dir=target, prefix=".partial-")
                os.close(handle)
                shutil.copyfile(entry, tmp)
                os.replace(tmp, target / entry.name)
    except OSError:
        pass


def prune(kept):
    """Mark ``kept`` used; remove the caches of other keys (an older collection or ansible-core) unused for a week."""
    week_ago = time.time() - 7 * 86400
    try:
        os.utime(kept)
        for other in kept.parent.iterdir():
            if other != kept and other.stat().st_mtime < week_ago:
                shutil.rmtree(other, ignore_errors=True)
    except OSError:
        pass


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "dockyard.fleet.module_cache"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        root = os.environ.get("DOCKYARD_MODULE_CACHE")
        self._kept = Path(root) / cache_key() if root else None
        self._run = Path(C.DEFAULT_LOCAL_TMP) / "ansiballz_cache"
        why = self._kept and untrusted(self._kept)
        if why:
            self._display.warning(f"dockyard does not use its module cache: {why}. Remove it, or make it yours and "
                                  f"writable by you alone (chown, chmod go-w); modules are packed anew meanwhile")
            self._kept = None
        if self._kept:
            copy_into(self._kept, self._run)

    def v2_playbook_on_stats(self, stats):
        if self._kept:
            copy_into(self._run, self._kept)
            prune(self._kept)
