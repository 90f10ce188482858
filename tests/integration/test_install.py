"""dockyard as its users install it, outside this checkout: the wheel in a fresh venv (`pip install`), and the
collection from its galaxy tarball in a project of its own (`ansible-galaxy collection install`). Both work in
one throw-away project directory on one 2-host lab, and nothing is written outside that project."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from conftest import address, on_host

from dockyard import __version__

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
LAB = "install"
CONTAINERS = [f"dockyard-{LAB}-node{i}" for i in (1, 2)]
FLEET = "ansible_collections/dockyard/fleet"
# The project's own playbook: the collection's roles by their full names, nothing of dockyard's playbooks.
SITE = """\
- name: Docker Engine
  hosts: docker_hosts
  roles: [dockyard.fleet.engine]
- name: Docker Swarm
  hosts: docker_hosts
  roles: [dockyard.fleet.swarm]
"""
# Settings that make the roles keep state on the control machine: the offline bundle, the CA and the Engine
# API's client certificate. Both the project's playbook and `dockyard up` read them beside the inventory.
GROUP_VARS = "engine_source: bundle\nengine_tls_api: true\n"


def run(argv, cwd, env=None, check=True):
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(map(str, argv))}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def clean_env():
    """This machine's environment without anything pointing at this checkout or its venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "DOCKYARD_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT)))
    return env


def files_under(directory: Path, newer_than: float) -> set[str]:
    """Files written under directory since newer_than (links are not followed), bytecode caches aside."""
    return {os.path.relpath(os.path.join(parent, name), directory)
            for parent, _dirs, names in os.walk(directory) if "__pycache__" not in parent
            for name in names if os.lstat(os.path.join(parent, name)).st_mtime >= newer_than}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The wheel and the collection tarball, built from this checkout as a release would build them."""
    out = tmp_path_factory.mktemp("dist")
    # From a copy of the tree: the build leaves build/ behind, and nothing outside the git-ignored state is needed.
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", ".dockyard", "build", "*.egg-info",
                                                                 "__pycache__", ".*_cache", "inventory"))
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)], cwd=out)
    run([sys.executable, "-m", "ansible", "galaxy", "collection", "build", "--output-path", str(out), str(source)],
        cwd=out)
    (wheel,) = out.glob("dockyard-*.whl")
    (tarball,) = out.glob("dockyard-fleet-*.tar.gz")
    return wheel, tarball


@pytest.fixture(scope="module")
def project(tmp_path_factory, artifacts):
    """A project directory outside the checkout with a fresh venv holding the installed wheel, and a 2-host lab
    made by that install, its inventory in the project."""
    base = tmp_path_factory.mktemp("user")
    venv, project = base / "venv", base / "project"
    project.mkdir()
    run([sys.executable, "-m", "venv", str(venv)], cwd=base)
    run([venv / "bin" / "pip", "install", "--quiet", str(artifacts[0])], cwd=base, env=clean_env())
    dockyard = venv / "bin" / "dockyard"
    try:
        run([dockyard, "lab", "up", "--fresh", "--name", LAB, "--hosts", "2", "--inventory-dir", "inventory"],
            cwd=project, env=clean_env())
        (project / "inventory" / "group_vars").mkdir()
        (project / "inventory" / "group_vars" / "all.yml").write_text(GROUP_VARS)
        yield venv, project
    finally:
        run([dockyard, "lab", "down", "--name", LAB], cwd=project, env=clean_env(), check=False)


def test_wheel_and_galaxy_tarball_hold_the_same_collection_and_one_version(artifacts):
    wheel, tarball = artifacts
    prefix = f"dockyard/collection/{FLEET}/"
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = {n.removeprefix(prefix) for n in archive.namelist() if n.startswith(prefix)}
    with tarfile.open(tarball) as archive:
        in_tarball = {m.name for m in archive.getmembers() if m.isfile()}
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    assert in_wheel - {"galaxy.yml"} == in_tarball - {"MANIFEST.json", "FILES.json"}
    assert manifest["collection_info"]["version"] == __version__ == wheel.name.split("-")[1]


def test_galaxy_collection_converges_a_lab_from_a_project_of_its_own(artifacts, project):
    venv, project = project
    (project / "site.yml").write_text(SITE)
    env = {**clean_env(), "ANSIBLE_COLLECTIONS_PATH": str(project / "collections")}
    # --no-deps: galaxy.yml's kubernetes.core comes from Galaxy, which this machine cannot reach; only
    # `deploy --to kubernetes` needs it, and this project deploys to a swarm.
    run([venv / "bin" / "ansible-galaxy", "collection", "install", "--no-deps", str(artifacts[1]), "-p", "collections"],
        cwd=project, env=env)
    started = time.time()
    playbook = [venv / "bin" / "ansible-playbook", "-i", "inventory/hosts.yml", "site.yml"]
    run(playbook, cwd=project, env=env)
    nodes = on_host(CONTAINERS[0], "docker", "node", "ls", "--format", "{{.Hostname}},{{.Status}},{{.ManagerStatus}}")
    assert sorted(nodes.splitlines()) == ["node1,Ready,Leader", "node2,Ready,"]
    for container in CONTAINERS:  # the API on 2376 answers only a client certificate of the project's CA
        certs = project / ".dockyard" / "docker-client"
        version = run(["curl", "-sf", "--cacert", certs / "ca.pem", "--cert", certs / "cert.pem", "--key",
                       certs / "key.pem", f"https://{address(container)}:2376/version"], cwd=project)
        assert json.loads(version.stdout)["Version"]
    # What the run wrote on this machine is all inside the project: the bundle, the CA, the client certificate.
    created = files_under(project, started)
    assert {Path(p).parts[:2] for p in created} <= {(".dockyard", "bundles"), (".dockyard", "pki"),
                                                     (".dockyard", "docker-client")}
    assert any(p.startswith(".dockyard/bundles/") for p in created)
    assert any(p.startswith(".dockyard/pki/ca.") for p in created)
    assert files_under(ROOT, started) == set()  # nor in the checkout it was built from

    second = run(playbook, cwd=project, env=env)
    assert re.findall(r"changed=(\d+)", second.stdout) == ["0", "0"], second.stdout


def test_installed_wheel_runs_the_platform_and_the_stack_from_another_directory(project):
    venv, project = project
    dockyard = [venv / "bin" / "dockyard"]
    assert run([*dockyard, "--version"], cwd=project, env=clean_env()).stdout.strip() == f"dockyard {__version__}"
    run([*dockyard, "up", "-i", "inventory/hosts.yml"], cwd=project, env=clean_env())
    (package,) = (venv / "lib").glob("python3*/site-packages/dockyard")
    started = time.time()
    compose = package / "collection" / FLEET / "examples" / "stacks" / "web"
    run([*dockyard, "deploy", compose / "compose.yml", "-n", "web", "-i", "inventory/hosts.yml"], cwd=project,
        env=clean_env())
    for container in CONTAINERS:
        page = run(["curl", "-s", "-m", "5", f"http://{address(container)}:8080/"], cwd=project)
        assert "Hello from a dockyard stack." in page.stdout
    # The runner's state (logs, the registry's CA, keys) is the project's; the installed package is left as it was.
    assert list((project / ".dockyard" / "logs").glob("*-site.log"))
    assert (project / ".dockyard" / "pki" / "ca.crt").is_file()
    assert files_under(package, started) == set()
