import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Collection code is imported as ansible_collections.dockyard.fleet.*, as Ansible does.
from dockyard.collection import collections_path  # noqa: E402

sys.path.insert(0, str(collections_path()))
