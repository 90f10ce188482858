# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the host's kernel can do, probed without changing the host."""

from __future__ import annotations

import os

# What Docker's encrypted overlay installs between hosts: ESP transport-mode SAs with AES-GCM. Trying one in a
# throw-away network namespace tells whether this kernel can carry such traffic, without touching the host.
ESP_PROBE = ["unshare", "--net", "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp",
             "spi", "0x100", "mode", "transport", "aead", "rfc4106(gcm(aes))",
             "0x0102030405060708090a0b0c0d0e0f1011121314", "128"]


def kernel_module(name, proc_path=None):
    """Whether the kernel has the module ``name``: loaded (``proc_path``, /sys/module) or loadable (its modules.dep
    or modules.builtin lists it)."""
    if (proc_path and os.path.exists(proc_path)) or os.path.exists(f"/sys/module/{name}"):
        return True
    for index in ("modules.builtin", "modules.dep"):
        try:
            with open(f"/lib/modules/{os.uname().release}/{index}", encoding="utf-8", errors="replace") as handle:
                if f"/{name}.ko" in handle.read():
                    return True
        except OSError:
            continue
    return False


def listening_sockets(pid="self", owner=None):
    """(address, port) of every TCP socket listening in the network namespace of process ``pid`` (this one's by
    default), from /proc; the address is hex as the kernel writes it. Only the sockets process ``owner`` holds open
    where it is given. None are found where /proc cannot be read."""
    held = None if owner is None else set()
    for fd in os.listdir(f"/proc/{owner}/fd") if owner is not None and os.path.isdir(f"/proc/{owner}/fd") else []:
        try:
            held.add(os.readlink(f"/proc/{owner}/fd/{fd}"))
        except OSError:  # closed since the listing
            continue
    found = []
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}", encoding="ascii") as handle:
                rows = [line.split() for line in handle.read().splitlines()[1:]]
        except OSError:
            continue
        for row in rows:
            address, _sep, hex_port = row[1].rpartition(":")
            if row[3] == "0A" and (held is None or f"socket:[{row[9]}]" in held):  # LISTEN
                found.append((address, int(hex_port, 16)))
    return found


def esp_missing(module):
    """Why this kernel cannot carry an encrypted overlay, or None; asked once per module run, however many
    networks need the answer (it is kept on the module)."""
    if not hasattr(module, "_dockyard_esp_missing"):
        rc, out, err = module.run_command(ESP_PROBE)
        module._dockyard_esp_missing = None if rc == 0 else (err or out).strip() or f"exit {rc}"
    return module._dockyard_esp_missing
