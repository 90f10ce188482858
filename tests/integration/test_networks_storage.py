"""The networks and storage roles through `dockyard up` on lab hosts: traffic between hosts, one call per host,
refused declarations, purge, the data-root move and encrypted overlays. (That each declared object exists as
declared is the molecule scenarios' verify.) The session lab is converged first (the overlay needs the swarm, the
containers the registry's images), so the file also runs alone."""

import json
import subprocess

import pytest
from ansible_collections.dockyard.fleet.plugins.module_utils._kernel import ESP_PROBE
from conftest import address, dockyard, on_host

pytestmark = pytest.mark.lab
EVERY_RELEASE = True  # on a lab of each Debian release (conftest)

DECLARED = {
    "networks_local": [
        {"name": "backend", "subnet": "10.70.1.0/24", "gateway": "10.70.1.1", "internal": True},
        {"name": "frontend", "subnet": "10.70.2.0/24", "ip_range": "10.70.2.128/25", "labels": {"tier": "web"}},
    ],
    "networks_overlay": [{"name": "mesh", "subnet": "10.70.3.0/24", "attachable": True}],
    "storage_volumes": [{"name": "appdata", "labels": {"backup": "daily"}},
                        {"name": "scratch", "options": {"type": "tmpfs", "device": "tmpfs", "o": "size=16m"}}],
}


def run(lab, declared, *extra, check=True):
    """networks.yml + storage.yml through `dockyard up`, with the declaration as extra vars."""
    return dockyard("up", "-i", str(lab / "hosts.yml"), "--tags", "networks,storage", "-e", json.dumps(declared),
                    *extra, check=check)


def inspect(container, kind, name):
    return json.loads(on_host(container, "docker", kind, "inspect", name))[0]


@pytest.fixture(scope="module")
def declared(converged):
    run(converged, DECLARED)
    return DECLARED


def test_a_container_on_one_host_reaches_one_on_another_over_the_overlay(declared, containers):
    image = f"{address(containers[0])}:5000/web:1"  # from the lab's registry
    on_host(containers[1], "docker", "run", "-d", "--name", "meshsrv", "--network", "mesh", image,
            "httpd", "-f", "-p", "8080", "-h", "/etc")
    try:
        for _ in range(10):
            proc = subprocess.run(["docker", "exec", containers[2], "docker", "run", "--rm", "--network", "mesh",
                                   image, "wget", "-q", "-O", "-", "http://meshsrv:8080/hostname"],
                                  capture_output=True, text=True, check=False)
            if proc.returncode == 0:
                break
        assert proc.stdout.strip() == on_host(containers[1], "docker", "inspect", "meshsrv", "--format",
                                              "{{.Config.Hostname}}")
    finally:
        on_host(containers[1], "docker", "rm", "-f", "meshsrv")


def test_second_run_changes_nothing_in_one_call_per_host(declared, lab, tmp_path):
    report = tmp_path / "again.json"
    run(lab, declared, "--json", str(report))
    tasks = [t for t in json.loads(report.read_text())["tasks"] if t["task"].startswith("Reconcile")]
    assert not [t for t in tasks if t["changed"]]
    per_host = {}
    for task in tasks:
        per_host.setdefault(task["host"], []).append(task["task"])
    assert per_host == {
        "node1": ["Reconcile the host's named volumes", "Reconcile the swarm's overlay networks on the first manager",
                  "Reconcile the host's own networks"],
        "node2": ["Reconcile the host's named volumes", "Reconcile the host's own networks"],
        "node3": ["Reconcile the host's named volumes", "Reconcile the host's own networks"],
    }


def networks_of(container):
    return sorted(on_host(container, "docker", "network", "ls", "--format", "{{.Name}} {{.ID}}").splitlines())


@pytest.mark.parametrize(("change", "message"), [
    ({"networks_local": [{"name": "backend", "subnet": "10.70.1.0/24"}, {"name": "extra", "subnet": "10.70.1.128/25"}]},
     "networks backend (10.70.1.0/24) and extra (10.70.1.128/25) overlap"),
    ({"networks_local": [{"name": "extra", "subnet": "10.70.2.0/25"}]},
     "network extra (10.70.2.0/25) overlaps the existing network frontend (10.70.2.0/24)"),
    ({"networks_local": [{"name": "extra", "subnet": "10.70.300.0/24"}]},
     "network extra: subnet '10.70.300.0/24' is not valid"),
    ({"networks_local": [{"name": "backend", "subnet": "10.70.9.0/24"}]},
     "network backend must be recreated because its settings changed"),
    ({"networks_local": [{"name": "frontend", "subnet": "10.70.2.0/24"}]},
     "network backend must be removed because it is no longer declared and purge is on"),
])
def test_bad_declarations_fail_naming_the_objects_and_change_nothing(declared, lab, change, message, containers):
    for container in containers:  # backend is in use everywhere
        on_host(container, "docker", "run", "-d", "--name", "busy", "--network", "backend",
                f"{address(containers[0])}:5000/web:1", "sleep", "600")
    try:
        before = [networks_of(c) for c in containers]
        proc = run(lab, {**declared, **change, "networks_purge": True}, check=False)
        assert proc.returncode == 1
        assert message in proc.stdout and "Nothing was changed." in proc.stdout
        if "backend must be" in message:
            assert "but busy uses it; stop or move them first" in proc.stdout
        assert [networks_of(c) for c in containers] == before
    finally:
        for container in containers:
            on_host(container, "docker", "rm", "-f", "busy")


def test_a_volume_with_data_is_kept_by_purge_and_an_empty_one_goes(declared, lab, containers):
    on_host(containers[0], "docker", "run", "--rm", "-v", "appdata:/d", f"{address(containers[0])}:5000/web:1",
            "sh", "-c", "echo keep > /d/file")
    proc = run(lab, {**declared, "storage_volumes": [], "storage_purge": True})
    assert "volume appdata is no longer declared but was kept: it holds data" in proc.stdout + proc.stderr
    for container in containers:
        volumes = on_host(container, "docker", "volume", "ls", "-q").split()
        assert "scratch" not in volumes
        assert ("appdata" in volumes) == (container == containers[0])  # only node1's holds data
    run(lab, declared)  # back as declared


def test_moving_the_data_root_keeps_a_volume_file_and_an_image(declared, lab, containers):
    node, image = containers[2], f"{address(containers[0])}:5000/busybox:1"
    on_host(node, "docker", "pull", "-q", image)
    on_host(node, "docker", "run", "--rm", "-v", "appdata:/d", image, "sh", "-c", "echo moved-intact > /d/file")
    image_id = on_host(node, "docker", "image", "inspect", image, "--format", "{{.Id}}")
    before = on_host(node, "docker", "info", "--format", "{{.DockerRootDir}}")
    for target in ("/srv/docker-moved", before):  # there and back again, each time removing the old place
        dockyard("up", "-i", str(lab / "hosts.yml"), "--limit", "node3", "--tags", "engine",
                 "-e", f"engine_data_root={target}", "-e", "storage_keep_old_data_root=false")
        assert on_host(node, "docker", "info", "--format", "{{.DockerRootDir}}") == target
        assert on_host(node, "docker", "image", "inspect", image, "--format", "{{.Id}}") == image_id
        assert on_host(node, "docker", "run", "--rm", "-v", "appdata:/d", image, "cat", "/d/file") == "moved-intact"
    assert "docker-moved" not in on_host(node, "ls", "/srv").split()


def test_an_encrypted_overlay_is_made_only_where_the_kernel_can_carry_it(declared, lab, containers):
    """Lab hosts share this machine's kernel: probe it the way the module does, then expect what fits."""
    esp = subprocess.run(["docker", "exec", containers[0], *ESP_PROBE], capture_output=True, text=True, check=False)
    overlay = [{"name": "secret-mesh", "subnet": "10.70.4.0/24", "attachable": True, "encrypted": True}]
    proc = run(lab, {**declared, "networks_overlay": declared["networks_overlay"] + overlay}, check=False)
    made = "secret-mesh" in on_host(containers[0], "docker", "network", "ls", "--format", "{{.Name}}").split()
    if esp.returncode == 0:
        assert proc.returncode == 0 and made
        assert "encrypted" in inspect(containers[0], "network", "secret-mesh")["Options"]
        run(lab, {**declared, "networks_purge": True})
    else:
        assert proc.returncode == 1 and not made
        assert "network secret-mesh is encrypted, but this kernel cannot add the IPsec ESP" in proc.stdout
        assert esp.stderr.strip() in proc.stdout  # the kernel's own words
