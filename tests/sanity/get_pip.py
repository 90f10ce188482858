"""Stand-in for get-pip.py, which ansible-test downloads from a host this machine cannot reach to put pip into the
virtual environments it makes: the standard library's ensurepip puts pip there, and that pip then installs what
ansible-test asked for (its pinned pip) from the package index pip is configured for."""

import ensurepip
import os
import runpy
import sys

configured = dict(os.environ)
ensurepip.bootstrap()  # it turns pip's configuration off in os.environ (PIP_CONFIG_FILE=/dev/null)
os.environ.clear()
os.environ.update(configured)
# get-pip.py's own options; pip itself has neither.
sys.argv = ["pip", "install", *(arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel"))]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
