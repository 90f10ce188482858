"""Where the dockyard.fleet collection lives and the environment Ansible runs with."""

from __future__ import annotations

import configparser
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from dockyard.errors import EnvironmentProblem

# The runner's progress comes from the events; packed modules are kept between runs (module_cache), in the
# user's cache directory: a cache, not the project's state.
CALLBACKS = ("dockyard.fleet.events", "dockyard.fleet.module_cache")


PACKAGE = Path(__file__).resolve().parent
# Where a built wheel carries the collection (setup.py copies it there); a source checkout is the collection.
PACKAGED = PACKAGE / "collection"
SHIPPED_CONFIG = PACKAGE / "ansible.cfg"


def collection_root() -> Path:
    """The collection dockyard.fleet: the copy an installed wheel carries, else the source checkout's root."""
    for root in (PACKAGED / "ansible_collections" / "dockyard" / "fleet", PACKAGE.parents[1]):
        if (root / "galaxy.yml").is_file():
            return root
    raise EnvironmentProblem(
        f"dockyard cannot find its Ansible collection (neither {PACKAGED} nor a source checkout around {PACKAGE}). "
        "Install dockyard from a wheel built from its source (`pip install <checkout>`) or from its source tree "
        "(`pip install -e <checkout>`)."
    )


def state_root() -> Path:
    """Where dockyard keeps what it makes between runs (logs, CA, bundles, keys): DOCKYARD_STATE_DIR if set,
    else .dockyard in the current directory, the project the operator runs dockyard from."""
    return Path(os.environ.get("DOCKYARD_STATE_DIR") or Path.cwd() / ".dockyard").absolute()


def collections_path() -> Path:
    """A directory with ansible_collections/dockyard/fleet: the wheel's copy as it is, or for a checkout a link
    to its root.

    Ansible finds collections only under ansible_collections/<namespace>/<name>; a link
    inside the checkout (.dockyard/ is git-ignored) makes the source tree importable
    without ansible-galaxy, and each checkout gets its own.
    """
    root = collection_root()
    if root.is_relative_to(PACKAGED):
        return PACKAGED
    base = root / ".dockyard" / "collections"
    link = base / "ansible_collections" / "dockyard" / "fleet"
    if not link.is_symlink() or link.resolve() != root:
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(".fleet.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.path.relpath(root, link.parent))
        tmp.replace(link)
    return base


def collection_module(name: str):
    """A module of the collection's own code (``plugins.module_utils._kernel``), imported as Ansible imports it."""
    path = str(collections_path())
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(f"ansible_collections.dockyard.fleet.{name}")


def merged_config(user_files=None) -> Path:
    """The shipped ansible.cfg, or a copy of it overlaid with the user's own settings where they have any."""
    shipped = SHIPPED_CONFIG
    candidates = user_files if user_files is not None else [Path.cwd() / "ansible.cfg", Path.home() / ".ansible.cfg"]
    user = next((p for p in candidates if p.is_file() and p.resolve() != shipped.resolve()), None)
    if user is None:
        return shipped
    config = configparser.ConfigParser(interpolation=None)
    config.read([shipped, user], encoding="utf-8")  # later files win, setting by setting
    merged = state_root() / "ansible.cfg"
    merged.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(merged, "w", encoding="utf-8") as handle:
        handle.write(f"# dockyard's ansible.cfg with the settings of {user} over it; made for each run.\n")
        config.write(handle)
    return merged


def ansible_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for an Ansible child process.

    The shipped ansible.cfg is used unless ANSIBLE_CONFIG is already set; settings of the
    user's own ./ansible.cfg or ~/.ansible.cfg win over it one by one, and ANSIBLE_* variables
    the user set keep winning over any file as usual.
    """
    if importlib.util.find_spec("ansible") is None:
        raise EnvironmentProblem(
            "Ansible is not importable from this Python; reinstall dockyard (`make setup`) "
            "so that ansible-core is installed next to it."
        )
    env = dict(os.environ if base is None else base)
    if "ANSIBLE_CONFIG" not in env:
        env["ANSIBLE_CONFIG"] = str(merged_config())
    paths = [str(collections_path())]
    if env.get("ANSIBLE_COLLECTIONS_PATH"):
        paths.append(env["ANSIBLE_COLLECTIONS_PATH"])
    env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(paths)
    enabled = [c for c in env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c]
    enabled += [name for name in CALLBACKS if name not in enabled]
    env["ANSIBLE_CALLBACKS_ENABLED"] = ",".join(enabled)
    env.setdefault("DOCKYARD_MODULE_CACHE", str(Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                                                / "dockyard" / "modules"))
    env["ANSIBLE_NOCOLOR"] = "1"
    # An inventory that does not parse is an error, not an empty run that "succeeds".
    env.setdefault("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
    return env


def playbook_path(name: str) -> Path:
    return collection_root() / "playbooks" / name
