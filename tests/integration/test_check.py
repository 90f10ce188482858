"""`dockyard check`: every problem of an inventory in one run, before anything is touched."""

import ipaddress
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import CONTAINERS, address, dockyard, quiet

from dockyard.check import load

pytestmark = pytest.mark.lab


def test_check_passes_on_the_lab_inventory(lab):
    proc = dockyard("check", "-i", str(lab / "hosts.yml"))
    assert "all good" in proc.stdout


def test_check_reports_four_planted_mistakes_at_once(lab):
    inventory = yaml.safe_load((lab / "hosts.yml").read_text())
    groups = inventory["all"]["children"]
    groups["swarm_managers"]["hosts"] = {"node1": None, "node2": None}  # 1. an even number of managers
    groups["swarm_workers"]["hosts"] = {"node3": None}
    nobody = str(ipaddress.ip_address(address(CONTAINERS[0])) + 88)  # 2. a lab address nothing answers on
    groups["docker_hosts"]["hosts"]["node9"] = {"ansible_host": nobody}
    inventory["all"]["vars"]["engine_sorce"] = "distro"  # 3. a misspelt variable
    groups["docker_hosts"]["hosts"]["node3"]["ansible_host"] = address(CONTAINERS[1])  # 4. node2's address
    planted = lab / "planted.yml"
    planted.write_text(yaml.safe_dump(inventory))

    proc = dockyard("check", "-i", str(planted), check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert "dockyard: check: inventory: swarm_managers has 2 hosts (node1, node2); a swarm needs an odd number. " \
           "Fix: use 1, 3, 5 or 7 managers (an even number tolerates no more failures than one fewer)" in lines
    assert any(line.startswith(f"dockyard: check: node9: SSH to root@{nobody}:22 failed") for line in lines)
    assert "dockyard: check: node1, node2, node3, node9: unknown variable engine_sorce. Fix: use engine_source" \
           in lines
    assert f"dockyard: check: node2, node3: share the address {address(CONTAINERS[1])}:22. " \
           "Fix: give each host its own ansible_host (or ansible_port)" in lines
    assert len(lines) == 4

    up = dockyard("up", "-i", str(planted), check=False)  # up runs the same checks first
    assert up.returncode == 2 and "PLAY" not in up.stdout


def test_the_example_inventory_checks_after_the_readme_copy_step(lab, tmp_path):
    """README: `cp -r ~/dockyard/inventory/example inventory` in the user's project; with its addresses swapped
    for lab hosts (and the lab's SSH settings), `dockyard check` passes, and its paths stay in the project."""
    project = tmp_path / "platform"
    project.mkdir()
    shutil.copytree(Path("inventory/example"), project / "inventory")
    hosts_file = project / "inventory" / "hosts.yml"
    example = yaml.safe_load(hosts_file.read_text())
    lab_vars = yaml.safe_load((lab / "hosts.yml").read_text())["all"]["vars"]
    groups = example["all"]["children"]
    swap = {"mgr1.example.internal": CONTAINERS[0], "app1.example.internal": CONTAINERS[1],
            "app2.example.internal": CONTAINERS[2]}
    for group in groups.values():  # three lab hosts for five: one manager, two workers
        group["hosts"] = {name: value for name, value in group["hosts"].items() if name in swap}
    for name, container in swap.items():
        groups["docker_hosts"]["hosts"][name] = {"ansible_host": address(container)}
    example["all"]["vars"].update({key: lab_vars[key] for key in (
        "ansible_ssh_private_key_file", "ansible_ssh_common_args", "registry_password")}, ansible_user="root")
    hosts_file.write_text(yaml.safe_dump(example))

    proc = dockyard("check", "-i", str(project / "inventory"), check=False)
    assert proc.returncode == 0, proc.stderr
    quiet(proc, "check")
    hosts, _, _ = load(str(project / "inventory"))
    from ansible.template import Templar

    context = Templar(loader=None, variables=hosts["mgr1.example.internal"]).template(
        hosts["mgr1.example.internal"]["images_build"][0]["context"])
    assert Path(context).resolve() == (project / "stacks" / "shop").resolve()
