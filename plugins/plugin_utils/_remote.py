# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a function of the collection's module_utils on a target host with the host's Python alone: no module wrapper,
no ansible.module_utils.basic. For the reads a converged run makes on every host, where starting Ansible's module
framework costs the host about five times the read itself (0.17 s of CPU against 0.035 s).

The function's module_utils files and its arguments go to ``python3 -`` on its standard input (without pipelining,
in a file of the host's temporary directory, as a module would), never on a command line or into a log; the
function answers with one JSON value on standard output. It may import only the standard
library and the module_utils files named with it."""

import importlib
import json
import shlex
from pathlib import Path

from ansible.errors import AnsibleActionFail

PACKAGE = "ansible_collections.dockyard.fleet.plugins.module_utils"

# Each file becomes a module under its own name, so the imports between them work as they do in a module.
LOADER = r"""
import json, os, sys, types

def load(name, source):
    parts = name.split(".")
    for depth in range(1, len(parts)):
        package = ".".join(parts[:depth])
        if package not in sys.modules:
            sys.modules[package] = types.ModuleType(package)
            sys.modules[package].__path__ = []
    module = sys.modules[name] = types.ModuleType(name)
    exec(compile(source, name, "exec"), module.__dict__)
    return module
"""


def interpreter(templar, task_vars):
    """The interpreter the inventory names for the host, else the python3 on the PATH (what discovery finds on
    Debian)."""
    named = str(templar.template(task_vars.get("ansible_python_interpreter") or "auto"))
    return "python3" if named.startswith("auto") else named


def script(files, function, kwargs):
    """The program that loads ``files`` (module_utils names, each after those it imports) and prints what
    ``function`` of the last one returns for ``kwargs``."""
    lines = [LOADER]
    for name in files:
        source = Path(importlib.import_module(f"{PACKAGE}.{name}").__file__).read_text(encoding="utf-8")
        lines.append(f"last = load({PACKAGE + '.' + name!r}, {source!r})")
    # Any exception is an answer too, without its traceback (whose lines would quote the program into the logs).
    lines.append(f"try:\n    answer = last.{function}(**json.loads({json.dumps(kwargs)!r}))\n"
                 "except Exception as exc:\n"
                 "    answer = {'failed': True, 'msg': f'{type(exc).__name__} on {os.uname().nodename}: {exc}'}\n"
                 "print(json.dumps(answer))")
    return "\n".join(lines) + "\n"


def run(action, task_vars, files, function, what, **kwargs):
    """What ``function`` returns on the task's host (delegated or not); ``what`` says what it does, for the error
    when the host cannot run it."""
    host_vars = task_vars
    if action._task.delegate_to:
        host_vars = task_vars.get("ansible_delegated_vars", {}).get(action._task.delegate_to, task_vars)
    python, program = shlex.quote(interpreter(action._templar, host_vars)), script(files, function, kwargs).encode()
    if action._connection.is_pipelining_enabled():
        done = action._low_level_execute_command(f"{python} -", in_data=program)
    else:
        # Without pipelining (configured off, or a become method that needs a terminal) the program goes to the
        # host's temporary directory first, as Ansible sends a module then.
        tmp = action._make_tmp_path()
        try:
            path = action._connection._shell.join_path(tmp, "read.py")
            action._transfer_data(path, program)
            action._fixup_perms2((tmp, path))
            done = action._low_level_execute_command(f"{python} {path}")
        finally:
            action._remove_tmp_path(tmp)
    try:
        return json.loads(done["stdout"].strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise AnsibleActionFail(
            f"{what} with {python} on {action._task.delegate_to or task_vars.get('inventory_hostname')} failed "
            f"(rc {done['rc']}): "
            f"{(done.get('stderr') or done.get('stdout') or '').strip()[-2000:]}. The host needs python3 (3.9 or "
            "later) for the connection user.") from None
