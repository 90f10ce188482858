"""dockyard: one Ansible inventory in, a working container platform out."""

from importlib.metadata import version

__version__ = version("dockyard")
