import sys

from dockyard.collection import collections_path

# Collection code is imported as ansible_collections.dockyard.fleet.*, as Ansible does.
sys.path.insert(0, str(collections_path()))
