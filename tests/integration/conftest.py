import collections
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from dockyard.collection import ansible_env, collection_root
from dockyard.lab import DEFAULT_RELEASE, RELEASES, image_contexts
from dockyard.runner import run_playbook

LAB = "itest"


def lab_name(release):
    """The session lab of a Debian release: "itest" for the default one, "itest-trixie" for trixie."""
    return LAB if release == DEFAULT_RELEASE else f"{LAB}-{release}"


def node_containers(name):
    """The containers of a 3-host lab's node1 to node3."""
    return [f"dockyard-{name}-node{i}" for i in (1, 2, 3)]


CONTAINERS = node_containers(LAB)


def pytest_generate_tests(metafunc):
    """Every test on the session lab runs on the default release's lab; a file that sets EVERY_RELEASE = True runs
    its tests on a lab of each release (the engine, swarm/stack and networks/storage tests)."""
    if "release" in metafunc.fixturenames:
        releases = RELEASES if getattr(metafunc.module, "EVERY_RELEASE", False) else [DEFAULT_RELEASE]
        metafunc.parametrize("release", releases, indirect=True, scope="session")


# Under pytest-xdist (`make test` runs this tier on two workers with --dist loadgroup), each worker is an operator
# project of its own: dockyard's state (CA, keys, bundles, logs) in a directory of its own, outside the checkout.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER and not os.environ.get("DOCKYARD_STATE_DIR"):
    os.environ["DOCKYARD_STATE_DIR"] = str(Path(tempfile.gettempdir()) / f"dockyard-state-{WORKER}")

# The tests of one lab run on one worker, in file order: every test on the session lab is in the group "itest", and
# every other file (each has a lab of its own) is a group. The longest groups are queued first, so the two workers
# end near each other (in a run of one process the order is the same, file by file within a group).
LONGEST_FIRST = ["itest", f"{LAB}-trixie", "test_kube_ha", "test_rolling", "test_faults", "test_kubernetes",
                 "test_molecule"]


@pytest.hookimpl(tryfirst=True)  # before xdist's, which names each test by its group
def pytest_collection_modifyitems(items):
    def group(item):
        if "release" in item.fixturenames:
            return lab_name(item.callspec.params["release"])
        return item.module.__name__

    for item in items:
        item.add_marker(pytest.mark.xdist_group(group(item)))
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(group(item), len(rank)))


# What each group costs (its lab's set-up and tear-down included), printed after the run to keep LONGEST_FIRST true.
GROUP_SECONDS = collections.Counter()


def pytest_runtest_logreport(report):
    group = report.nodeid.rpartition("@")[2] if "@" in report.nodeid else report.nodeid.split("::")[0]
    GROUP_SECONDS[group] += report.duration


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_sep("=", "seconds per group of tests (their lab's set-up and tear-down included)")
    for group, seconds in GROUP_SECONDS.most_common():
        terminalreporter.write_line(f"{seconds:6.0f} s  {group}")

def dockyard(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"dockyard {' '.join(args)} exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def process_groups_under(pid):
    """The process groups of ``pid`` and of every process below it: Ansible's workers and SSH masters start
    sessions of their own, so killing the runner's and ansible-playbook's groups alone would leave them running."""
    table = [line.split() for line in subprocess.run(["ps", "-e", "-o", "pid=,ppid=,pgid="], capture_output=True,
                                                     text=True, check=True).stdout.splitlines()]
    below = {pid}
    for _ in range(len(table)):  # each pass takes in one more generation
        grown = below | {int(p) for p, parent, _ in table if int(parent) in below}
        if grown == below:
            break
        below = grown
    return {int(g) for p, _, g in table if int(p) in below}


def killed_at(args, markers, delay=0.0):
    """Start `dockyard ARGS` and SIGKILL every process group of its process tree (the runner, ansible-playbook,
    Ansible's workers, SSH) once progress lines holding each of ``markers`` (in that order) have shown, ``delay``
    seconds later; its output."""
    proc = subprocess.Popen([sys.executable, "-m", "dockyard", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    pending = [markers] if isinstance(markers, str) else list(markers)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if pending[0] in line:
            pending.pop(0)
            if not pending:
                break
    else:
        proc.wait()
        raise AssertionError(f"the run ended before {pending[0]!r}:\n{''.join(seen)[-3000:]}")
    time.sleep(delay)
    for group in process_groups_under(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    return "".join(seen)


def quiet(proc, what):
    """Nothing of Python's or of a library's own on a command's standard error."""
    for word in ("Warning", "Traceback", "site-packages"):
        assert word not in proc.stderr, f"{what}: {word} on stderr:\n{proc.stderr}"


def on_host(container, *argv):
    """Run a command inside a lab host and return its stdout (asserting on the host itself)."""
    return subprocess.run(["docker", "exec", container, *argv], capture_output=True, text=True,
                          check=True).stdout.strip()


def labelled(kind, name=LAB):
    """IDs of containers, networks or volumes carrying the lab's label."""
    base = ["docker", kind, "ls", "-q"] if kind != "container" else ["docker", "ps", "-a", "-q"]
    out = subprocess.run([*base, "--filter", f"label=dockyard.lab={name}"], capture_output=True, text=True,
                         check=True).stdout
    return sorted(out.split())


# Where `dockyard up` keeps Kubernetes bundles on this machine (the kubernetes role's kubernetes_bundle_dir).
BUNDLES = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dockyard" / "bundles"


def kube_bundle(play_dir, version, dest=BUNDLES, check=False, start_only=False):
    """kube_bundle through ansible-playbook on the control machine, as the kubernetes role runs it: its result, or
    with ``start_only`` the process started (its own process group). A Kubernetes lab's fixture builds the bundles
    its file needs before it makes the lab: on a cold machine a cluster does not sit idle, nor a probe run, through
    a build of a quarter of an hour (on a warm one this finds the bundle in the cache)."""
    result_file = play_dir / f"bundle-{version}.json"
    play = play_dir / f"bundle-{version}.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "tasks": [
            {"dockyard.fleet.kube_bundle": {"version": version, "source": str(collection_root() / "bundles"),
                                            "dest": str(dest)}, "register": "bundle"},
            {"ansible.builtin.copy": {"content": "{{ bundle | to_json }}", "dest": str(result_file)},
             "check_mode": False}]}]))
    argv = [sys.executable, "-m", "ansible", "playbook", "-i", "localhost,", "-c", "local",
            "-e", f"ansible_python_interpreter={sys.executable}", str(play)] + (["--check"] if check else [])
    if start_only:
        return subprocess.Popen(argv, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    proc = subprocess.run(argv, env=ansible_env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(result_file.read_text())


@contextlib.contextmanager
def fresh_lab(tmp_path_factory, name, hosts=3, managers=None, release=DEFAULT_RELEASE, orchestrator="swarm"):
    """A lab of bare hosts (hosts an interrupted run left are replaced), removed at the end whatever happened;
    yields its inventory directory. ``release``: one Debian release for all hosts, or one per host
    ("bookworm,trixie,trixie"); ``orchestrator``: swarm or kubernetes hosts."""
    inventory_dir = tmp_path_factory.mktemp(name)
    shape = ["--hosts", str(hosts), "--release", release, "--orchestrator", orchestrator] + (
        ["--managers", str(managers)] if managers else [])
    try:
        dockyard("lab", "up", "--fresh", *shape, "--name", name, "--inventory-dir", str(inventory_dir))
        yield inventory_dir
    finally:
        dockyard("lab", "down", "--name", name)


@pytest.fixture(scope="session")
def release(request):
    """The Debian release of the session lab a test runs on (see pytest_generate_tests)."""
    return request.param


@pytest.fixture(scope="session")
def lab(tmp_path_factory, release):
    """A 3-host lab of one Debian release for the whole session."""
    with fresh_lab(tmp_path_factory, lab_name(release), release=release) as inventory_dir:
        yield inventory_dir


@pytest.fixture(scope="session")
def containers(lab, release):
    """The session lab's host containers, node1 to node3."""
    return node_containers(lab_name(release))


@pytest.fixture(scope="session")
def converged(lab):
    """The session lab with the platform site.yml makes of it (Engine, registry, the lab's images, swarm): what
    a file needs to run alone, and a no-op when an earlier file of the session converged it already."""
    out = io.StringIO()
    assert run_playbook("site.yml", str(lab / "hosts.yml"), stream=out).exit_code == 0, out.getvalue()
    return lab


def docker_info(container):
    return json.loads(on_host(container, "docker", "info", "--format", "{{json .}}"))


WEB_IMAGE = "dockyard/web:1"
EXAMPLES = Path(__file__).parents[2] / "examples" / "stacks"


@pytest.fixture(scope="session")
def web_image(tmp_path_factory):
    """The sample stack's image, built on this machine for tests that load it into Engines directly (docker
    save | load): its busybox base comes from Debian's package, as the lab's own images do."""
    if subprocess.run(["docker", "image", "inspect", WEB_IMAGE], capture_output=True, check=False).returncode:
        contexts = image_contexts(tmp_path_factory.mktemp("images"))
        for tag, context in (("dockyard/busybox:1", contexts["busybox"]), (WEB_IMAGE, EXAMPLES / "web")):
            subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], check=True, capture_output=True)
    return WEB_IMAGE


def address(container):
    """A lab host's IP on its lab network."""
    networks = json.loads(subprocess.run(["docker", "inspect", container], capture_output=True, check=True,
                                         text=True).stdout)[0]["NetworkSettings"]["Networks"]
    (ip,) = [net["IPAddress"] for net in networks.values()]
    return ip


def load_image(container, image):
    """docker save | docker load into a lab host's Engine."""
    subprocess.run(f"docker save {image} | docker exec -i {container} docker load", shell=True, check=True,
                   capture_output=True)
