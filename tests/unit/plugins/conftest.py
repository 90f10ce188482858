"""Modules run as Ansible runs them: a module process given its arguments as JSON on standard input."""

import json
import os
import subprocess
import sys

import pytest

from dockyard.collection import collections_path


def run_module(name, args, check=False, diff=True):
    """The module's result and its whole output (for grepping a secret)."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    proc = subprocess.run([sys.executable, "-m", f"ansible_collections.dockyard.fleet.plugins.modules.{name}"],
                          input=json.dumps({"ANSIBLE_MODULE_ARGS": args}), capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(collections_path())})
    return json.loads(proc.stdout), proc.stdout


@pytest.fixture(name="run_module")
def run_module_fixture():
    return run_module
