"""`dockyard check`: every problem of an inventory in one run, before anything is touched."""

import ipaddress

import pytest
import yaml
from conftest import CONTAINERS, address, dockyard

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
    assert any(line.startswith(f"dockyard: check: node9: SSH to root@{nobody} failed") for line in lines)
    assert "dockyard: check: node1, node2, node3, node9: unknown variable engine_sorce. Fix: use engine_source" \
           in lines
    assert f"dockyard: check: node2, node3: share the address {address(CONTAINERS[1])}:22. " \
           "Fix: give each host its own ansible_host (or ansible_port)" in lines
    assert len(lines) == 4

    up = dockyard("up", "-i", str(planted), check=False)  # up runs the same checks first
    assert up.returncode == 2 and "PLAY" not in up.stdout
