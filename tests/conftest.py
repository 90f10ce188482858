import secrets
import subprocess
import sys

import pytest
import yaml

from dockyard.collection import collections_path

# Collection code is imported as ansible_collections.dockyard.fleet.*, as Ansible does.
sys.path.insert(0, str(collections_path()))


@pytest.fixture(scope="session")
def vaulted_inventory():
    """Writes an inventory directory: hosts.yml from a dict, and group_vars/all/vault.yml with each of
    ``variables`` as a !vault value (ansible-vault encrypt_string); returns the vault password file."""

    def write(directory, inventory, variables):
        password_file = directory.parent / f"{directory.name}.vault-pass"
        password_file.write_text(secrets.token_hex(16) + "\n")
        (directory / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
        (directory / "hosts.yml").write_text(yaml.safe_dump(inventory))
        (directory / "group_vars" / "all" / "vault.yml").write_text("".join(
            subprocess.run([sys.executable, "-m", "ansible", "vault", "encrypt_string", "--vault-password-file",
                            str(password_file), "--name", name, value], capture_output=True, text=True,
                           check=True).stdout for name, value in variables.items()))
        return password_file

    return write
