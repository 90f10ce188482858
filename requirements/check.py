"""`make setup`'s last step: the virtual environment holds exactly what the lock says, no more, no less.

python requirements/check.py LOCK   (run with the venv's python; exit 1 naming every difference)
"""

import re
import sys
from importlib.metadata import distributions
from pathlib import Path


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(lock: str) -> int:
    pins = (raw.split()[0].split("==", 1) for raw in Path(lock).read_text(encoding="utf-8").splitlines()
            if raw and not raw.startswith((" ", "#")))
    wanted = {canonical(name): version for name, version in pins}
    # pip is the venv's own (it installs the lock); dockyard is this checkout, installed editable.
    have = {canonical(d.metadata["Name"]): d.version for d in distributions()
            if canonical(d.metadata["Name"]) not in ("pip", "dockyard")}
    differences = [f"{name}: lock {wanted.get(name, '-')}, venv {have.get(name, '-')}"
                   for name in sorted(set(wanted) | set(have)) if wanted.get(name) != have.get(name)]
    for line in differences:
        print(f"requirements/check.py: {line}", file=sys.stderr)
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
