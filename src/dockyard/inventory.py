"""Inventory checks that must pass before Ansible is started."""

from __future__ import annotations

from pathlib import Path

import yaml

from dockyard.errors import UsageError

YAML_SUFFIXES = (".yml", ".yaml")


class _AnsibleYAML(yaml.SafeLoader):
    """YAML with Ansible's own tags: a !vault value is read as its (still encrypted) text, never decrypted."""


for _tag in ("!vault", "!unsafe"):
    _AnsibleYAML.add_constructor(_tag, lambda loader, node: loader.construct_scalar(node))


def check_yaml_sources(inventory: str) -> None:
    """Fail with file, line and column when a YAML inventory file does not parse."""
    path = Path(inventory)
    if not path.exists():
        raise UsageError(f"inventory {inventory} does not exist; create it (see inventory/example/) "
                         "or make a lab with `dockyard lab up`")
    candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
    for file in (p for p in candidates if p.suffix in YAML_SUFFIXES):
        load_yaml(file, "inventory", _AnsibleYAML)  # a SafeLoader with two tags more


def load_yaml(file: Path, what: str, loader=yaml.SafeLoader):
    """A YAML file's document; a syntax error (or a file that cannot be read) is one UsageError naming the
    file, line and column."""
    try:
        return yaml.load(file.read_text(encoding="utf-8"), Loader=loader)  # a SafeLoader, or one derived from it
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
        raise UsageError(f"{what} YAML error at {where}: {exc.problem or exc.context}") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{what} {file} cannot be read: {exc}") from exc
