"""molecule: every role's scenario (converge, idempotence, verify) on one shared lab, and the idempotence step
catching a task that is not idempotent."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import labelled

pytestmark = pytest.mark.lab

ROOT = Path(__file__).parents[2]
# Every role's scenario (a role without one is named in tests/unit/test_docs.py, with the test that runs it instead).
ROLES = sorted(p.name for p in (ROOT / "molecule").iterdir() if p.is_dir() and p.name != "default")


def molecule(*args, state: Path, scenarios: str | None = None) -> tuple[int, str]:
    """molecule from this venv (it runs ansible-playbook from PATH), with its own state directory: the exit
    code and the output, without the colours molecule puts on some words even with NO_COLOR."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "MOLECULE_EPHEMERAL_DIRECTORY": str(state), "NO_COLOR": "1"}  # log lines read "[scenario > step] ..."
    if scenarios:
        env["MOLECULE_GLOB"] = scenarios
    proc = subprocess.run([sys.executable, "-m", "molecule", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)
    return proc.returncode, re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)


def test_every_scenario_converges_idempotently_and_verifies_on_the_hosts(tmp_path):
    code, output = molecule("test", "--all", state=tmp_path / "state")
    assert code == 0, output[-6000:]
    for role in ROLES:
        for step in ("converge", "idempotence", "verify"):
            assert f"[{role} > {step}] Executed: Successful" in output, (role, step, output[-3000:])
    assert labelled("container", "molecule") == []  # the shared lab went with the last scenario


PLANTED = """---
- name: Converge a task that changes the host on every run
  hosts: docker_hosts
  gather_facts: false
  tasks:
    - name: Planted command without changed_when
      ansible.builtin.command: date
"""


def test_a_task_that_is_not_idempotent_fails_the_idempotence_step(tmp_path):
    scenarios = tmp_path / "molecule"
    (scenarios / "planted").mkdir(parents=True)
    (scenarios / "default").symlink_to(ROOT / "molecule" / "default")
    (scenarios / "planted" / "molecule.yml").write_text("---\nscenario:\n  name: planted\n")
    (scenarios / "planted" / "converge.yml").write_text(PLANTED)
    code, output = molecule("test", "-s", "planted", state=tmp_path / "state",
                            scenarios=f"{scenarios}/*/molecule.yml")
    assert code != 0, output[-3000:]
    assert "Idempotence test failed because of the following tasks" in output, output[-3000:]
    assert "Planted command without changed_when" in output.split("Idempotence test failed")[1]
    assert "[planted > idempotence] Executed: Failed" in output
    assert "[planted > verify]" not in output  # the sequence stops at the failing step
    assert labelled("container", "molecule") == []  # and the lab is removed all the same
