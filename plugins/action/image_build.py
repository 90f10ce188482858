# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller half of image_build: pack the build context, hash it, and send it only when a build is needed."""

import fnmatch
import hashlib
import io
import json
import os
import tarfile
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

MODULE = "dockyard.fleet.image_build"


def ignore_patterns(context):
    try:
        with open(os.path.join(context, ".dockerignore"), encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
    except FileNotFoundError:
        return []
    return [line for line in lines if line and not line.startswith("#")]


def ignored(relative, patterns):
    """.dockerignore: the last matching pattern wins; '!' re-includes; a pattern also matches what is under it."""
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = relative.split("/")
        if any(fnmatch.fnmatchcase("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1)):
            verdict = not negate
    return verdict


def pack(context):
    """The context as a tar whose bytes depend only on names, modes and contents (no times, no owners)."""
    patterns = ignore_patterns(context)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(context):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                path = os.path.join(root, name)
                relative = os.path.relpath(path, context)
                if relative not in ("Dockerfile", ".dockerignore") and ignored(relative, patterns):
                    if name in dirs and not any(p.startswith("!") for p in patterns):
                        dirs.remove(name)  # nothing under it can be re-included
                    continue
                info = tar.gettarinfo(path, relative)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if info.isfile():
                    with open(path, "rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
    return buffer.getvalue()


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if "context" not in args:
            raise AnsibleActionFail("image_build needs 'context', a directory on the control machine")
        context = self._find_needle("files", args.pop("context"))
        if not os.path.isdir(context):
            raise AnsibleActionFail(f"image_build: the context {context} is not a directory")
        dockerfile = args.get("dockerfile") or "Dockerfile"
        if not os.path.isfile(os.path.join(context, dockerfile)):
            raise AnsibleActionFail(f"image_build: there is no {dockerfile} in the context {context}")
        archive = pack(context)
        recipe = {k: args.get(k) for k in ("dockerfile", "build_args", "target", "labels")}
        digest = hashlib.sha256(archive)
        digest.update(json.dumps(recipe, sort_keys=True, default=str).encode())
        args["context_hash"] = digest.hexdigest()[:12]

        probe = self._execute_module(MODULE, module_args=args, task_vars=task_vars)
        if probe.get("failed") or probe.get("needs") != "build" or self._task.check_mode:
            result.update(probe)
            return result

        tmp = self._make_tmp_path()
        remote = self._connection._shell.join_path(tmp, "context.tar")
        with tempfile.NamedTemporaryFile(suffix=".tar") as local:
            local.write(archive)
            local.flush()
            self._transfer_file(local.name, remote)
        self._fixup_perms2((tmp, remote))
        args["context_archive"] = remote
        try:
            result.update(self._execute_module(MODULE, module_args=args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(tmp)
        return result
