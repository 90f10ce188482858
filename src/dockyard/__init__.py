"""dockyard: one Ansible inventory in, a working container platform out."""

__version__ = "0.1.0"
