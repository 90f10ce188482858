"""module_cache keeps the packed modules from one run to the next: a real ansible-playbook run on this machine
(connection local), twice, with Ansible's own debug output saying whether it packed each module or took it from
its cache."""

import subprocess
import sys

import yaml

from dockyard.collection import ansible_env

PLAY = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
    {"ansible.builtin.command": "true", "changed_when": False},
    {"dockyard.fleet.host_files": {"files": []}},
]}]
HOST_FILES = "ansible_collections.dockyard.fleet.plugins.modules.host_files"


def run(tmp_path, cache):
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(PLAY))
    env = ansible_env({"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_DEBUG": "1",
                       "DOCKYARD_MODULE_CACHE": str(cache), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
                       "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    proc = subprocess.run([sys.executable, "-m", "ansible", "playbook", "-i", "localhost,", str(playbook)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_the_second_run_takes_the_modules_the_first_packed(tmp_path):
    cache = tmp_path / "cache"
    first = run(tmp_path, cache)
    assert "ANSIBALLZ: Creating module" in first and "ANSIBALLZ: using cached module" not in first
    (kept,) = cache.iterdir()  # one key: this ansible-core, Python and collection
    assert sorted(p.name.split("-")[0] for p in kept.iterdir()) == ["ansible.modules.command", HOST_FILES]
    second = run(tmp_path, cache)
    assert "ANSIBALLZ: Creating module" not in second
    assert f"ANSIBALLZ: using cached module: {tmp_path / 'tmp'}" in second and HOST_FILES in second


def test_a_cache_others_may_write_to_is_not_used(tmp_path):
    cache = tmp_path / "cache"
    run(tmp_path, cache)
    cache.chmod(0o777)  # anyone could have put a module of theirs in it
    shared = run(tmp_path, cache)
    assert "dockyard does not use its module cache: " in shared and "is writable by others (drwxrwxrwx)" in shared
    assert "ANSIBALLZ: using cached module" not in shared
    (kept,) = cache.iterdir()
    assert sorted(p.name.split("-")[0] for p in kept.iterdir()) == ["ansible.modules.command", HOST_FILES]
