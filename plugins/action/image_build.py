# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller half of image_build: pack the build context, hash it, and send it only when a build is needed."""

import hashlib
import io
import json
import os
import posixpath
import re
import tarfile
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.dockyard.fleet.plugins.module_utils._compose import SECRET_NAME

MODULE = "dockyard.fleet.image_build"


def ignore_patterns(context):
    """The .dockerignore patterns as Docker reads them: comments and blank lines dropped, each pattern cleaned like
    a path (``./x`` is ``x``, a leading or trailing ``/`` goes), ``!`` marking an exception. (exception, regex)."""
    try:
        with open(os.path.join(context, ".dockerignore"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return []
    patterns = []
    for line in lines:
        if line.startswith("#"):
            continue
        pattern = line.strip()
        exception = pattern.startswith("!")
        pattern = pattern[1:].strip() if exception else pattern
        if not pattern:
            continue
        pattern = posixpath.normpath(pattern)
        if len(pattern) > 1 and pattern.startswith("/"):
            pattern = pattern.lstrip("/")
        patterns.append((exception, re.compile(pattern_regex(pattern))))
    return patterns


def pattern_regex(pattern):
    """A Docker ignore pattern as an anchored regular expression: ``*`` and ``?`` stop at ``/``, ``**`` spans any
    number of directories (also none), ``[...]`` is a class, ``\\`` escapes the next character."""
    regex, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
            regex += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        if ch == "*":
            regex += "[^/]*"
        elif ch == "?":
            regex += "[^/]"
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            regex += re.escape(pattern[i])
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                regex += re.escape(ch)
            else:
                body = pattern[i + 1:end]
                regex += "[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]"
                i = end
        else:
            regex += re.escape(ch)
        i += 1
    return regex + "$"


def ignored(relative, patterns):
    """Whether Docker leaves the path out of the context: the last pattern that matches the path or one of its
    parent directories decides; an exception (``!``) puts it back."""
    parents = relative.split("/")[:-1]
    verdict = False
    for exception, regex in patterns:
        if exception != verdict:
            continue  # an exclusion of what is excluded, or an exception for what is not, changes nothing
        if regex.match(relative) or any(regex.match("/".join(parents[:i])) for i in range(1, len(parents) + 1)):
            verdict = not exception
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
                    if name in dirs and not any(exception for exception, _regex in patterns):
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


def secret_build_args(images):
    """A warning for each build arg whose name says it holds a secret: build args stay in the image's history."""
    return [f"{image.get('name', 'image')}: build_args.{name} looks like a secret, but a build arg stays in the "
            "image's history (docker history shows it) for whoever may pull the image; give it to the containers at "
            "run time instead (secrets: of the stack)"
            for image in images for name, value in sorted((image.get("build_args") or {}).items())
            if value and SECRET_NAME.search(name)]


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def _pack(self, image):
        """The image's entry with its context found and hashed, and the packed context."""
        if "context" not in image:
            raise AnsibleActionFail("image_build needs 'context', a directory on the control machine")
        context = self._find_needle("files", image["context"])
        if not os.path.isdir(context):
            raise AnsibleActionFail(f"image_build: the context {context} is not a directory")
        dockerfile = image.get("dockerfile") or "Dockerfile"
        if not os.path.isfile(os.path.join(context, dockerfile)):
            raise AnsibleActionFail(f"image_build: there is no {dockerfile} in the context {context}")
        archive = pack(context)
        recipe = {k: image.get(k) for k in ("dockerfile", "build_args", "target", "labels")}
        digest = hashlib.sha256(archive)
        digest.update(json.dumps(recipe, sort_keys=True, default=str).encode())
        return dict(image, context=context, context_hash=digest.hexdigest()[:12]), archive

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        several = args.get("images") is not None
        packed = [self._pack(image) for image in (args["images"] if several else [args])]
        images = [image for image, _archive in packed]
        if several:
            args["images"] = images
        else:
            args = images[0]
        result = self._build(result, args, several, packed, images, task_vars)
        warnings = secret_build_args(images)
        if warnings:
            result["warnings"] = result.get("warnings", []) + warnings
        return result

    def _build(self, result, args, several, packed, images, task_vars):

        # The first run asks the host about every image (and pushes what only needs a push); the contexts of those
        # that need a build go to the host for a second run.
        probe = self._execute_module(MODULE, module_args=args, task_vars=task_vars)
        answers = probe.get("images", []) if several else [probe]
        due = [index for index, answer in enumerate(answers) if answer.get("needs") == "build"]
        if probe.get("failed") or not due or self._task.check_mode:
            result.update(probe)
            return result

        tmp = self._make_tmp_path()
        try:
            for index in due:
                remote = self._connection._shell.join_path(tmp, f"context-{index}.tar")
                with tempfile.NamedTemporaryFile(suffix=".tar") as local:
                    local.write(packed[index][1])
                    local.flush()
                    self._transfer_file(local.name, remote)
                self._fixup_perms2((tmp, remote))
                images[index] = dict(images[index], context_archive=remote)
            built = self._execute_module(
                MODULE, module_args=dict(args, images=[images[i] for i in due]) if several else images[0],
                task_vars=task_vars)
        finally:
            self._remove_tmp_path(tmp)
        if not several or built.get("failed"):
            result.update(built)
            return result
        for index, answer in zip(due, built["images"], strict=True):
            answers[index] = answer
        result.update(probe, images=answers, changed=probe.get("changed") or built.get("changed"))
        return result
