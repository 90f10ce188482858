"""`dockyard lab`: throw-away servers on this machine (systemd + sshd + room for dockerd).

Each lab host is a container from a Debian base image built offline with debootstrap,
running systemd as PID 1 and sshd, on a private bridge network with fixed addresses.
Everything a lab makes carries the label ``dockyard.lab=<name>``, so ``lab down``
removes exactly that and nothing else.

docker.py is the docker CLI, image.py the images built here, inventory.py the lab's shape and its
inventory, hosts.py the hosts' lifecycle; what the runner, the benchmarks and the tests use is here.
"""

from dockyard.lab.docker import engine_answers
from dockyard.lab.hosts import down as down
from dockyard.lab.hosts import (
    fetch,
    kernel_features,
    lab_containers,
    pick_subnet,
    remove_container,
    status,
)
from dockyard.lab.hosts import up as up
from dockyard.lab.image import (
    DEFAULT_MIRROR,
    DEFAULT_RELEASE,
    PACKAGES,
    RELEASES,
    apt_mirror,
    customize_rootfs,
    image_contexts,
    recipe_hash,
)
from dockyard.lab.inventory import ORCHESTRATORS, LabHost, LabSpec, default_managers, render_inventory

__all__ = [
    "DEFAULT_MIRROR", "DEFAULT_RELEASE", "ORCHESTRATORS", "PACKAGES", "RELEASES", "LabHost", "LabSpec", "apt_mirror",
    "customize_rootfs", "default_managers", "down",
    "engine_answers", "fetch", "image_contexts", "kernel_features", "lab_containers", "pick_subnet", "recipe_hash",
    "remove_container", "render_inventory", "status", "up",
]
