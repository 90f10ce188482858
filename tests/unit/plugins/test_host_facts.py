"""host_facts: its shell command's facts agree with Ansible's setup module on this machine, and its parsing of other
systems' os-release."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.dockyard.fleet.plugins.action.host_facts import SCRIPT, not_names, parse

from dockyard.collection import ansible_env

FACTS = ["os_family", "distribution", "distribution_version", "distribution_major_version", "distribution_release",
         "architecture", "service_mgr", "python_version"]


def test_the_command_s_facts_are_those_setup_gathers_on_this_machine():
    read = subprocess.run(["sh", "-c", SCRIPT.replace("{python}", sys.executable)], capture_output=True, text=True,
                          check=True)
    ours = parse(read.stdout)
    adhoc = [str(Path(sys.executable).with_name("ansible")), "localhost", "-i", "localhost,", "-c", "local", "-e",
             f"ansible_python_interpreter={sys.executable}", "-m", "ansible.builtin.setup", "-a", "gather_subset=min"]
    setup = subprocess.run(adhoc, capture_output=True, text=True, check=True,
                           env={**ansible_env(), "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
    gathered = json.loads(setup.stdout.split("=>", 1)[1])["ansible_facts"]
    assert {name: ours[name] for name in FACTS} == {name: gathered[f"ansible_{name}"] for name in FACTS}
    assert ours["user_id"] == gathered["ansible_user_id"]
    version = gathered["ansible_python"]["version"]
    assert ours["python"]["version"] == {key: version[key] for key in ("major", "minor", "micro")}


UBUNTU = """NAME="Ubuntu"
VERSION_ID="24.04"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=noble
--arch aarch64
--user ops
--init systemd
--debian trixie/sid
--python 3 12 3 /usr/bin/python3
"""

ROCKY = """NAME="Rocky Linux"
VERSION_ID="9.4"
ID="rocky"
ID_LIKE="rhel centos fedora"
--arch x86_64
--user root
--init systemd
--debian
--python
"""


@pytest.mark.parametrize(("read", "expected"), [
    (UBUNTU, {"os_family": "Debian", "distribution": "Ubuntu", "distribution_version": "24.04",
              "distribution_major_version": "24", "distribution_release": "noble", "architecture": "aarch64",
              "user_id": "ops", "service_mgr": "systemd", "python_version": "3.12.3",
              "python": {"version": {"major": 3, "minor": 12, "micro": 3}, "executable": "/usr/bin/python3"}}),
    # No Python: an empty python fact, which site.yml's check reports.
    (ROCKY, {"os_family": "RedHat", "distribution": "Rocky", "distribution_version": "9.4",
             "distribution_major_version": "9", "distribution_release": "", "architecture": "x86_64",
             "user_id": "root", "service_mgr": "systemd", "python_version": "", "python": {}}),
    # A container without systemd: process 1's name.
    ("ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n--init tini\n--debian 12.8\n--python 3 11 2 /x\n",
     {"os_family": "Debian", "distribution": "Debian", "distribution_version": "12.8",
      "distribution_major_version": "12", "service_mgr": "tini"}),
])
def test_other_systems_are_read_as_setup_names_them(read, expected):
    facts = parse(read)
    assert {name: facts[name] for name in expected} == expected


@pytest.mark.parametrize("codename", ["../../../tmp/x", "bookworm main\nTypes: deb", "Bookworm", "a b"])
def test_a_release_name_that_is_no_name_is_refused(codename):
    facts = parse(UBUNTU.replace("VERSION_CODENAME=noble", f"VERSION_CODENAME={codename!r}").replace(
        "UBUNTU_CODENAME=noble\n", ""))
    assert facts["distribution_release"] != "noble"
    assert not_names(facts).startswith("The host's distribution_release is ")
    assert not_names(parse(UBUNTU)) == not_names(parse(ROCKY)) == ""
