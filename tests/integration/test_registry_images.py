"""The registry and images roles on lab hosts: a TLS registry with logins on node1, every Engine trusting it,
images built by content on the builder. Runs after test_engine.py configured the Engines."""

import io
import json
import re
import shutil
import subprocess

import pytest
from conftest import CONTAINERS, EXAMPLES, address, dockyard, on_host

from dockyard.collection import state_root
from dockyard.runner import run_playbook

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def registry(lab):
    out = io.StringIO()
    for playbook in ("engine.yml", "registry.yml", "images.yml"):  # engine: a no-op after test_engine.py
        assert run_playbook(playbook, str(lab / "hosts.yml"), stream=out).exit_code == 0, out.getvalue()
    return f"{address(CONTAINERS[0])}:5000"


def curl(lab, *args, scope="repository:web:pull,delete", user="dockyard"):
    """The registry's HTTP API from this machine, with the collection's CA and a token for ``scope`` from the
    registry's token server, got with the lab's push login."""
    password = (lab / "registry.password").read_text()
    ca = ["--cacert", str(state_root() / "pki" / "ca.crt")]
    registry = f"{address(CONTAINERS[0])}:5000"
    token = json.loads(subprocess.run(
        ["curl", "-sf", *ca, "-u", f"{user}:{password}", "-G", f"https://{address(CONTAINERS[0])}:5001/token",
         "--data-urlencode", f"service={registry}", "--data-urlencode", f"scope={scope}"],
        capture_output=True, text=True, check=True).stdout)["token"]
    return subprocess.run(["curl", "-sf", *ca, "-H", f"Authorization: Bearer {token}", *args], capture_output=True,
                          text=True, check=True).stdout


def registry_get(lab, registry, path):
    return json.loads(curl(lab, f"https://{registry}/v2/{path}"))


def images_run(lab, *extra, check=True):
    return dockyard("up", "-i", str(lab / "hosts.yml"), "--limit", "builders", "--tags", "images",
                    *extra, check=check)


def test_every_host_pulls_the_image_over_tls_with_its_login_and_not_without(registry):
    image = f"{registry}/web:1"
    for container in CONTAINERS:
        on_host(container, "sh", "-c", f"docker rmi -f {image} >/dev/null 2>&1; docker pull -q {image}")
        labels = json.loads(on_host(container, "docker", "image", "inspect", image, "--format",
                                    "{{json .Config.Labels}}"))
        assert len(labels["io.dockyard.context-hash"]) == 12
    anonymous = subprocess.run(["docker", "exec", CONTAINERS[1], "docker", "--config", "/tmp/nobody", "pull", image],
                               capture_output=True, text=True, check=False)
    assert anonymous.returncode != 0 and "unauthorized" in anonymous.stderr
    certs = f"/etc/docker/certs.d/{registry}"
    on_host(CONTAINERS[2], "mv", certs, "/root/certs-aside")
    try:
        untrusted = subprocess.run(["docker", "exec", CONTAINERS[2], "docker", "pull", f"{registry}/busybox:1"],
                                   capture_output=True, text=True, check=False)
    finally:
        on_host(CONTAINERS[2], "mv", "/root/certs-aside", certs)
    assert untrusted.returncode != 0 and "certificate signed by unknown authority" in untrusted.stderr


def test_same_content_is_left_alone_and_one_edited_file_pushes_a_new_tag(registry, lab, tmp_path):
    context = tmp_path / "web"
    shutil.copytree(EXAMPLES / "web", context)  # same content at another path: the hash is the content's
    images = {"images_build": [{"name": "web", "tag": "1", "context": str(context),
                                "build_args": {"BASE": "{{ registry_endpoint }}/busybox:1"}}]}
    tags_before = registry_get(lab, registry, "web/tags/list")["tags"]
    report = tmp_path / "same.json"
    images_run(lab, "-e", json.dumps(images), "--json", str(report))
    assert json.loads(report.read_text())["hosts"]["node1"]["changed"] == 0
    assert registry_get(lab, registry, "web/tags/list")["tags"] == tags_before

    (context / "www" / "index.html").write_text("<p>edited</p>\n")
    report = tmp_path / "edited.json"
    images_run(lab, "-e", json.dumps(images), "--json", str(report))
    assert json.loads(report.read_text())["hosts"]["node1"]["changed"] == 1
    tags_after = registry_get(lab, registry, "web/tags/list")["tags"]
    (new_tag,) = set(tags_after) - set(tags_before)
    assert new_tag.startswith("1-") and len(new_tag) == 14
    digest = on_host(CONTAINERS[0], "docker", "image", "inspect", f"{registry}/web:{new_tag}", "--format",
                     "{{index .RepoDigests 0}}").split("@")[1]
    manifest = curl(lab, "-I", "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json",
                    f"https://{registry}/v2/web/manifests/1").lower()
    assert f"docker-content-digest: {digest}" in manifest  # the declared tag moved to the new build
    # Back to the sample's content, so later tests deploy the page they expect.
    images_run(lab)

    # Garbage collection: with the edited build's manifest deleted, its blobs go; the sample still pulls.
    curl(lab, "-X", "DELETE", f"https://{registry}/v2/web/manifests/{digest}")
    report = tmp_path / "gc.json"
    dockyard("registry-gc", "-i", str(lab / "hosts.yml"), "--json", str(report))
    gc = next(t for t in json.loads(report.read_text())["tasks"] if t["task"].startswith("Delete blobs"))
    assert gc["changed"]
    assert new_tag not in registry_get(lab, registry, "web/tags/list")["tags"]
    on_host(CONTAINERS[1], "docker", "pull", "-q", f"{registry}/web:1")


def test_a_failing_run_step_fails_with_the_step_and_its_output(registry, lab, tmp_path):
    context = tmp_path / "broken"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE}\n"
        'RUN ["/bin/busybox", "sh", "-c", "echo fetching assets; echo assets.tar: not found >&2; exit 3"]\n')
    images = {"images_build": [{"name": "broken", "context": str(context),
                                "build_args": {"BASE": "{{ registry_endpoint }}/busybox:1"}}]}
    proc = images_run(lab, "-e", json.dumps(images), check=False)
    assert proc.returncode == 1
    assert re.search(rf"Building {registry}/broken:latest on node1 failed at Step \d/\d : RUN \[", proc.stdout)
    assert "assets.tar: not found" in proc.stdout and "returned a non-zero code: 3" in proc.stdout


def test_a_wrong_password_names_the_registry_and_is_never_printed(registry, lab):
    wrong = "Wrong-Password-9f8e7d6c"
    # node2 only: the registry on node1 keeps its accounts, node2 (not a builder: the pull account) is told another
    # pull password.
    proc = dockyard("up", "-i", str(lab / "hosts.yml"), "--limit", "node2", "--tags", "registry",
                    "-e", f"registry_pull_password={wrong}", check=False)
    assert proc.returncode == 1
    assert f"Logging in to registry {registry} as dockyard-pull on node2 failed" in proc.stdout  # not a builder
    assert "user name or password is wrong" in proc.stdout
    log = next(line for line in proc.stdout.splitlines() if line.startswith("log: ")).split(" ", 1)[1]
    with open(log, encoding="utf-8") as handle:
        assert wrong not in proc.stdout + proc.stderr + handle.read()
    on_host(CONTAINERS[1], "docker", "pull", "-q", f"{registry}/web:1")  # the good login is kept


def test_the_token_server_is_kept_running_and_restarted_when_a_file_it_reads_changes(registry, lab, tmp_path):
    """The token server's unit comes with its files (host_files): a stopped, disabled unit is predicted in check mode
    and changed nothing there, then enabled and started; a file it reads edited on the host is put back and the
    server restarted to read it."""
    unit, node1 = "dockyard-registry-token.service", CONTAINERS[0]

    def unit_state():
        return on_host(node1, "systemctl", "show", "--property=UnitFileState,ActiveState,MainPID", unit)

    def registry_run(*extra):
        report = tmp_path / "run.json"
        dockyard("up", "-i", str(lab / "hosts.yml"), "--limit", "registry", "--tags", "registry", "--json",
                 str(report), *extra)
        return json.loads(report.read_text())

    on_host(node1, "systemctl", "disable", "--now", unit)
    stopped = unit_state()
    assert "ActiveState=inactive" in stopped and "UnitFileState=disabled" in stopped
    predicted = registry_run("--check")
    assert predicted["hosts"]["node1"]["changed"] == 1
    assert unit_state() == stopped  # check mode changed nothing
    registry_run()
    started = unit_state()
    assert "ActiveState=active" in started and "UnitFileState=enabled" in started
    image = f"{registry}/busybox:1"
    on_host(CONTAINERS[1], "sh", "-c", f"docker rmi {image} >/dev/null; docker pull -q {image}")  # a token is needed

    on_host(node1, "sh", "-c", "echo ' ' >> /var/lib/dockyard-registry-token/token.json")
    report = registry_run()
    assert report["hosts"]["node1"]["changed"] == 1
    restarted = unit_state()
    assert "ActiveState=active" in restarted and restarted.split("MainPID=")[1] != started.split("MainPID=")[1]
    assert registry_run()["hosts"]["node1"]["changed"] == 0


def test_a_started_container_is_watched_until_it_listens_or_stops(registry, lab, tmp_path):
    """The container module (which runs the registry): a container that exits right after its start fails the task
    with its exit code and last output; one that listens on its published port counts as started and answers."""
    image, node1 = f"{registry}/busybox:1", CONTAINERS[0]
    play = tmp_path / "containers.yml"
    play.write_text(json.dumps([{"hosts": "node1", "gather_facts": False, "tasks": [
        {"name": "Start a container that exits at once", "ignore_errors": True,
         "dockyard.fleet.container": {"name": "dockyard-test-exits", "image": image, "restart_policy": "no",
                                      "command": ["sh", "-c", "echo unknown setting: cache >&2; exit 3"]}},
        {"name": "Start a web server", "dockyard.fleet.container": {
            "name": "dockyard-test-httpd", "image": image, "command": ["httpd", "-f", "-p", "8000"],
            "ports": ["18000:8000"]}}]}]))
    try:
        result = run_playbook(str(play), str(lab / "hosts.yml"), stream=io.StringIO())
        by_task = {event["task"]: event for event in result.results}
        failed = by_task["Start a container that exits at once"]
        assert failed["event"] == "failed"
        assert "dockyard-test-exits on node1 stopped right after it started (exit code 3)" in failed["msg"]
        assert "unknown setting: cache" in failed["msg"]
        assert by_task["Start a web server"]["event"] == "changed"
        assert on_host(node1, "docker", "inspect", "-f", "{{.State.Running}}", "dockyard-test-httpd") == "true"
        answer = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                 f"http://{address(node1)}:18000/"], capture_output=True, text=True, check=False)
        assert answer.stdout == "404"  # busybox httpd, no index page: it answers
    finally:
        on_host(node1, "docker", "rm", "-f", "dockyard-test-exits", "dockyard-test-httpd")
