"""The wheel carries the Ansible collection: galaxy.yml's version is the package's, and build_py copies what
`ansible-galaxy collection build` would pack (galaxy.yml's build_ignore) into dockyard/collection/."""

import fnmatch
import shutil
from pathlib import Path

import yaml
from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
# What ansible-galaxy leaves out besides build_ignore: these paths, and directories of these names anywhere.
# galaxy.yml is kept (the runner finds the collection by it).
ALWAYS_IGNORED = ("*.pyc", "*.retry", "tests/output")
IGNORED_DIRS = {"CVS", ".bzr", ".hg", ".git", ".svn", "__pycache__", ".tox"}


def ignored(relative: str) -> bool:
    """As ansible-galaxy decides it: a pattern matches the path relative to the root (``*`` crosses ``/``)."""
    return any(fnmatch.fnmatch(relative, p) for p in (*GALAXY.get("build_ignore", ()), *ALWAYS_IGNORED))


def collection_files():
    """The collection's files, relative to the checkout, walking no directory that is left out."""
    pending = [ROOT]
    while pending:
        for path in sorted(pending.pop().iterdir()):
            relative = path.relative_to(ROOT).as_posix()
            if ignored(relative) or (path.is_dir() and path.name in IGNORED_DIRS):
                continue
            if path.is_dir():
                pending.append(path)
            else:
                yield relative


class BuildWithCollection(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install runs from the checkout, which is the collection
            return
        target = Path(self.build_lib, "dockyard", "collection", "ansible_collections",
                      GALAXY["namespace"], GALAXY["name"])
        shutil.rmtree(target, ignore_errors=True)  # nothing an earlier build copied outlives its source
        for relative in collection_files():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, target / relative)


setup(version=GALAXY["version"], cmdclass={"build_py": BuildWithCollection})
