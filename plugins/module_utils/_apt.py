# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""This machine's apt sources, read from both formats apt knows: deb822 ``*.sources`` files and one-line
``sources.list`` entries. The lab builds its hosts' images from the Debian mirror they name, and the Engine bundle
asks the same mirrors for another Debian release."""

import os
import re


def _deb822(text):
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ", "\t")):
                key, value = line.split(":", 1)
                fields[key.strip()] = value.strip()
        if fields.get("Types", "").split()[:1] == ["deb"] and "URIs" in fields:
            yield {"uri": fields["URIs"].split()[0], "suites": fields.get("Suites", "").split(),
                   "components": fields.get("Components", "").split(), "signed_by": fields.get("Signed-By", "")}


def _one_line(text):
    for line in text.splitlines():
        options = re.search(r"\[([^]]*)\]", line)
        parts = re.sub(r"\[[^]]*\]", " ", line).split()
        if len(parts) >= 3 and parts[0] == "deb":
            signed_by = re.search(r"signed-by=(\S+)", options.group(1)) if options else None
            yield {"uri": parts[1], "suites": [parts[2]], "components": parts[3:],
                   "signed_by": signed_by.group(1) if signed_by else ""}


def apt_sources(sources_dir="/etc/apt"):
    """Every ``deb`` source this machine's apt reads: dicts of uri, suites, components and signed_by (a keyring
    path, or empty). deb822 files first, then sources.list, then the one-line files of sources.list.d."""
    parts = os.path.join(sources_dir, "sources.list.d")
    names = sorted(os.listdir(parts)) if os.path.isdir(parts) else []
    found = []
    for name in [n for n in names if n.endswith(".sources")]:
        with open(os.path.join(parts, name), encoding="utf-8") as handle:
            found += _deb822(handle.read())
    one_line = [os.path.join(sources_dir, "sources.list")] + [os.path.join(parts, n) for n in names
                                                              if n.endswith(".list")]
    for path in one_line:
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                found += _one_line(handle.read())
    return found


def release_sources(own_release, release, sources_dir="/etc/apt"):
    """This machine's sources of its own Debian release (``bookworm``, ``bookworm-updates``,
    ``bookworm-security``), as one-line entries for ``release`` instead."""
    lines = []
    for source in apt_sources(sources_dir):
        for suite in source["suites"]:
            if suite == own_release or suite.startswith(own_release + "-"):
                options = f"[signed-by={source['signed_by']}] " if source["signed_by"].startswith("/") else ""
                lines.append(f"deb {options}{source['uri']} {release}{suite[len(own_release):]} "
                             f"{' '.join(source['components']) or 'main'}")
    return lines
