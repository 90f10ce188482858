"""The console and the logs show dockyard's words, not its libraries' notes to their own developers.

Deprecation warnings of libraries (cryptography's about DSA, printed by ansible-core's SSH agent code on import,
say) and paramiko's logged tracebacks of a failed connection are kept out of the runner's own output and out of
the ansible-playbook it starts (and so out of .dockyard/logs/). ``-v`` shows them again. Ansible's own
deprecation messages go through its display, not Python's warnings, and stay.
"""

from __future__ import annotations

import logging
import runpy
import sys
import warnings


def quiet_libraries(verbosity: int) -> None:
    """In this process: library warnings ignored and paramiko's log silenced, unless ``-v`` was given."""
    if verbosity:
        return
    # A CryptographyDeprecationWarning is a UserWarning; Python's -W and PYTHONWARNINGS cannot name it (they are
    # read before site-packages can be imported), hence this module as the way ansible-playbook is started.
    from cryptography.utils import CryptographyDeprecationWarning

    for category in (DeprecationWarning, PendingDeprecationWarning, CryptographyDeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    paramiko = logging.getLogger("paramiko")
    paramiko.addHandler(logging.NullHandler())  # a logger with a handler keeps logging's last resort (stderr) away
    paramiko.propagate = False


def ansible_argv(verbosity: int) -> list[str]:
    """How the runner starts an Ansible command (``python -m ansible playbook ...``): through this module, which
    sets the filters first (its workers are forks, so they keep them), unless ``-v``."""
    return [sys.executable, "-m", "ansible" if verbosity else "dockyard.quiet"]


if __name__ == "__main__":
    quiet_libraries(0)
    runpy.run_module("ansible", run_name="__main__", alter_sys=True)
