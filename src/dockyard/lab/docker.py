"""The docker CLI as the lab uses it: argv lists, errors that name the command, JSON out."""

from __future__ import annotations

import json
import shutil
import subprocess

from dockyard.errors import DockyardError, EnvironmentProblem


def docker(*args: str, stdin=None, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    """Run the docker CLI with an argv list; a failure raises with the command and its stderr."""
    cmd = ["docker", *args]
    try:
        proc = subprocess.run(cmd, stdin=stdin, capture_output=capture, text=True, check=False)
    except FileNotFoundError as exc:
        raise EnvironmentProblem("The docker command is not installed on this machine; run `dockyard lab up`, "
                                 "which installs Docker Engine with the collection's engine role.") from exc
    if check and proc.returncode != 0:
        raise DockyardError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc


def docker_json(*args: str) -> list:
    """``docker inspect``-style commands: JSON out, [] when the object does not exist."""
    proc = docker(*args, check=False)
    if proc.returncode != 0:
        if "No such" in proc.stderr or "not found" in proc.stderr:
            return []
        raise DockyardError(f"`docker {' '.join(args)}` failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout or "[]")


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return docker("version", "--format", "{{.Server.Version}}", check=False).returncode == 0
