"""Vault options of every command: the same three Ansible takes, for the preflight and the playbook alike.

A password asked at the terminal (--ask-vault-pass, --vault-id NAME@prompt) is asked once, by dockyard (Ansible
runs without a terminal), and handed to Ansible in a file only the owner can read, removed when the command ends.
"""

from __future__ import annotations

import argparse
import getpass
import shutil
import sys
import tempfile
from pathlib import Path

from dockyard.errors import UsageError
from dockyard.runner import private_file, state_dir


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vault-password-file", action="append", default=[], metavar="FILE",
                        help="vault password file (repeatable; an executable file prints the password)")
    parser.add_argument("--ask-vault-pass", action="store_true", help="ask for the vault password")
    parser.add_argument("--vault-id", action="append", default=[], metavar="NAME@SOURCE",
                        help="vault identity: NAME@FILE or NAME@prompt (repeatable)")


class Vault:
    """The vault identities of one command, as NAME@FILE for Ansible."""

    def __init__(self, args=None):
        self.password_files = list(getattr(args, "vault_password_file", None) or [])
        self.vault_ids = list(getattr(args, "vault_id", None) or [])
        self.ask = bool(getattr(args, "ask_vault_pass", False))
        self._dir: Path | None = None
        self._resolved: list[str] | None = None

    def ids(self) -> list[str]:
        """Every identity as NAME@FILE (prompting now for those that are asked at the terminal)."""
        if self._resolved is None:
            asked = ["default@prompt"] if self.ask else []
            self._resolved = [f"default@{f}" for f in self.password_files]
            for vault_id in asked + self.vault_ids:
                name, _, source = vault_id.rpartition("@") if "@" in vault_id else ("default", "@", vault_id)
                self._resolved.append(f"{name}@{self._prompted(name) if source == 'prompt' else source}")
        return self._resolved

    def _prompted(self, name: str) -> Path:
        if not sys.stdin.isatty():
            raise UsageError(f"the vault password ({name}) must be asked but there is no terminal; give "
                             "--vault-password-file FILE or --vault-id NAME@FILE instead")
        password = getpass.getpass(f"Vault password ({name}): ")
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="vault-", dir=state_dir("runs")))
        return private_file(self._dir / f"{name}.pass", password + "\n")

    def argv(self) -> list[str]:
        return [arg for vault_id in self.ids() for arg in ("--vault-id", vault_id)]

    def load_secrets(self, loader) -> None:
        """Give Ansible's loader the secrets (and the user's configured defaults), for `dockyard check`."""
        import inspect

        from ansible import constants as C
        from ansible.cli import CLI

        # ansible-core 2.19 decrypts through one process-wide context (made once); older ones through the loader.
        newer = "initialize_context" in inspect.signature(CLI.setup_vault_secrets).parameters
        secrets = CLI.setup_vault_secrets(loader, vault_ids=list(C.DEFAULT_VAULT_IDENTITY_LIST) + self.ids(),
                                          auto_prompt=False, **({"initialize_context": False} if newer else {}))
        if newer:
            from ansible.parsing.vault import VaultSecretsContext

            if VaultSecretsContext.current(optional=True) is None:
                VaultSecretsContext.initialize(VaultSecretsContext(secrets))

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
