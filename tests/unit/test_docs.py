"""Every plugin's documentation renders with ansible-doc; every role has its docs page, argument spec and molecule
scenario."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dockyard.collection import ansible_env

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = [("module", p.stem) for p in sorted((ROOT / "plugins/modules").glob("*.py"))] + [
    ("filter", "packages_to_install"),
    ("filter", "swarm_leader"),
    ("filter", "group_problems"),
    ("filter", "kubernetes_manifests"),
    ("filter", "registry_accounts"),
    ("filter", "compose_inline"),
    ("callback", "events"),
    ("callback", "module_cache"),
]


@pytest.fixture(scope="module")
def rendered():
    """ansible-doc --json of every plugin, one call per plugin type."""
    docs = {}
    for kind in sorted({kind for kind, _ in PLUGINS}):
        names = [f"dockyard.fleet.{name}" for plugin_kind, name in PLUGINS if plugin_kind == kind]
        proc = subprocess.run([sys.executable, "-m", "ansible", "doc", "--json", "-t", kind, *names],
                              capture_output=True, text=True, env=ansible_env(), check=False)
        docs[kind] = (proc.returncode, proc.stderr, json.loads(proc.stdout or "{}"))
    return docs


@pytest.mark.parametrize(("kind", "name"), PLUGINS)
def test_ansible_doc_renders(rendered, kind, name):
    returncode, stderr, docs = rendered[kind]
    assert returncode == 0 and f"dockyard.fleet.{name}" in docs, stderr
    doc = docs[f"dockyard.fleet.{name}"]["doc"]
    assert doc["short_description"] and doc["description"]


# Roles whose hosts the shared molecule lab (a swarm lab) cannot be, and the integration test that runs them instead.
WITHOUT_MOLECULE = {"kubernetes": "tests/integration/test_kubernetes.py"}


@pytest.mark.parametrize("role", sorted(p.name for p in (ROOT / "roles").iterdir()))
def test_every_role_has_a_docs_page_argument_spec_and_molecule_scenario(role):
    assert (ROOT / "docs/roles" / f"{role}.md").is_file()
    assert (ROOT / "roles" / role / "meta/argument_specs.yml").is_file()
    if role in WITHOUT_MOLECULE:
        assert (ROOT / WITHOUT_MOLECULE[role]).is_file() and not (ROOT / "molecule" / role).exists()
        return
    for playbook in ("molecule.yml", "converge.yml", "verify.yml"):
        assert (ROOT / "molecule" / role / playbook).is_file(), playbook


@pytest.mark.parametrize("role", sorted(p.name for p in (ROOT / "roles").iterdir()))
def test_argument_spec_matches_defaults_key_for_key(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text()) or {}
    spec = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    required = {name for name, option in options.items() if option.get("required")}
    assert set(options) - required == set(defaults)  # a required variable has no default
    for name, option in options.items():
        assert option.get("default") == defaults.get(name), name
        assert name.startswith(f"{role}_"), f"{name} is not prefixed with the role name"


def test_the_docker_action_group_lists_every_module_that_talks_to_an_engine():
    """module_defaults for group/dockyard.fleet.docker must reach every module that takes docker_host: the ones
    documented with the fragment of those options (sanity's validate-modules holds the docs to the arguments)."""
    talks = sorted(p.stem for p in (ROOT / "plugins/modules").glob("*.py")
                   if re.search(r"^  - dockyard\.fleet\.docker$", p.read_text(), re.M))
    group = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())["action_groups"]["docker"]
    assert group == talks and "engine_info" in talks and "host_files" not in talks


def test_each_filter_shows_its_own_documentation(rendered):
    _, _, docs = rendered["filter"]
    assert docs["dockyard.fleet.registry_accounts"]["doc"]["name"] == "registry_accounts"
    assert docs["dockyard.fleet.swarm_leader"]["doc"]["name"] == "swarm_leader"


def test_the_speed_figures_in_the_docs_are_the_newest_benchmarks():
    """README, docs/performance.md and docs/scale.md quote the 3- and 10-host figures of the newest `make bench`
    result (benchmarks/results/, named by time); a new result without new docs fails here."""
    newest = max(p for p in (ROOT / "benchmarks/results").glob("*.json") if "-hosts-" not in p.name)
    results = json.loads(newest.read_text())["results"]
    three, ten = results["3"], results["10"]
    figures = {
        "README.md": [f"in {three['bare_to_stack']['seconds']} s ({three['ratio_bare_to_limit']}x the limit",
                      f"no-op re-run in {three['noop']['seconds']} s", f"no-op {ten['noop']['seconds']} s"],
        "docs/performance.md": [f"{three['bare_to_stack']['seconds']} s, **{three['ratio_bare_to_limit']}x**",
                                f"**{three['noop']['seconds']} s**", f"**{ten['noop']['seconds']} s**"],
        "docs/scale.md": [f"no-op takes {three['noop']['seconds']} s and a 10-host one {ten['noop']['seconds']} s"],
    }
    for page, quoted in figures.items():
        text = " ".join((ROOT / page).read_text().split())
        for figure in quoted:
            assert figure in text, f"{page} does not quote {figure!r} of {newest.name}"
