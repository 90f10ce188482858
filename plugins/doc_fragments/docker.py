# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by every module that talks to the Docker Engine API."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - Path of the Docker Engine's unix socket on the target host (C(unix://) prefix allowed).
      - The modules speak the Engine API directly; the Docker SDK for Python is not needed.
    type: str
    default: /var/run/docker.sock
  api_timeout:
    description: Seconds to wait for one Engine API answer.
    type: int
    default: 60
requirements:
  - python3 on the target host (standard library only)
  - Docker Engine 20.10 (API 1.41) or newer
"""

    # Attributes of a module that only reads state.
    INFO_MODULE = r"""
attributes:
  check_mode:
    support: full
    details: The module only reads state, so check mode runs it as usual.
  diff_mode:
    support: N/A
    details: The module changes nothing.
  idempotent:
    support: full
"""

    # Attributes of a module that changes state and supports check and diff mode fully.
    CHANGING_MODULE = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
"""
