"""`make sanity`: ansible-test sanity on the collection as it ships.

The collection is built (ansible-galaxy collection build) and installed where ansible-test wants it
(.../ansible_collections/dockyard/fleet), so the tests see exactly what a user installs. ansible-test runs from a
virtual environment of its own holding the same ansible-core and ansible-test's pinned requirements of each test;
the virtual environments ansible-test makes per test get pip from tests/sanity/get_pip.py (see there).
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import ansible
import ansible_test

ROOT = Path(__file__).resolve().parents[2]
# The venv is this machine's, kept across checkouts (a clean clone in CI does not make it again).
STATE = Path.home() / ".cache" / "dockyard" / "sanity"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# What the sanity tests need, as ansible-test pins it for this ansible-core.
REQUIREMENTS = sorted((Path(ansible_test.__file__).parent / "_data" / "requirements").glob("sanity.*.txt"))


def sanity_venv() -> Path:
    """The venv ansible-test runs from; made again when ansible-core changes."""
    venv = STATE / f"venv-{ansible.__version__}"
    if not (venv / "bin" / "ansible-test").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        requirements = [arg for path in REQUIREMENTS if "import" not in path.name for arg in ("-r", str(path))]
        subprocess.run([venv / "bin" / "pip", "install", "--quiet", f"ansible-core=={ansible.__version__}",
                        *requirements], check=True)
    return venv


def pip_bootstrap(venv: Path) -> None:
    """Where ansible-test looks for get-pip.py before downloading it."""
    probe = ("import types; from ansible_test._internal.python_requirements import get_venv_packages; "
             f"print(get_venv_packages(types.SimpleNamespace(version={PYTHON!r}))['pip'])")
    version = subprocess.run([venv / "bin" / "python", "-c", probe], check=True, capture_output=True,
                             text=True).stdout.strip()
    cache = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{version.replace('.', '_')}.py"
    cache.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("get_pip.py"), cache)


def main() -> int:
    venv = sanity_venv()
    pip_bootstrap(venv)
    # Outside the checkout: inside a git work tree, ansible-test would list only the files git tracks there (none).
    with tempfile.TemporaryDirectory(prefix="dockyard-sanity-") as work:
        subprocess.run([venv / "bin" / "ansible-galaxy", "collection", "build", "--output-path", work, str(ROOT)],
                       check=True, capture_output=True)
        (tarball,) = Path(work).glob("dockyard-fleet-*.tar.gz")
        # --no-deps: galaxy.yml's kubernetes.core would come from Galaxy, unreachable here; sanity needs none of it.
        subprocess.run([venv / "bin" / "ansible-galaxy", "collection", "install", "--force", "--no-deps",
                        str(tarball), "-p", work], check=True, capture_output=True)
        collection = Path(work) / "ansible_collections" / "dockyard" / "fleet"
        return subprocess.run([venv / "bin" / "ansible-test", "sanity", "--local", "--python", PYTHON, "--color",
                               "no"], cwd=collection, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
