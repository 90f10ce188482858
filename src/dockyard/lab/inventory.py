"""The lab's shape and what it writes for Ansible: hosts and addresses, the inventory with the groups of
DESIGN.md, and the SSH key and registry password kept beside it."""

from __future__ import annotations

import ipaddress
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from dockyard.collection import collection_root
from dockyard.errors import UsageError
from dockyard.lab.image import DEFAULT_RELEASE, RELEASES

FIRST_HOST_OFFSET = 11
MAX_HOSTS = 50
ORCHESTRATORS = ("swarm", "kubernetes")


@dataclass(frozen=True)
class LabHost:
    name: str
    container: str
    address: str
    release: str = DEFAULT_RELEASE
    kubernetes: bool = False  # a Kubernetes node: containerd's own data, a cgroup tree of its own (hosts.py)

    @property
    def volumes(self) -> dict[str, str]:
        """Volume name -> mount point. overlay2 and a moved data-root need real file systems, not the
        container's own overlay root: /var/lib/docker for the Engine (/var/lib/containerd on a Kubernetes node),
        /srv for data the roles move there."""
        runtime = "/var/lib/containerd" if self.kubernetes else "/var/lib/docker"
        # A Kubernetes host may run an Engine too (the lab's registry host does).
        engine = {f"{self.container}-engine": "/var/lib/docker"} if self.kubernetes else {}
        return {f"{self.container}-docker": runtime, **engine, f"{self.container}-srv": "/srv"}


@dataclass(frozen=True)
class LabSpec:
    """The lab ``lab up`` converges to: its name, hosts and where its inventory goes."""

    name: str
    hosts: int
    managers: int
    inventory_dir: Path
    # The Debian release of every host, or one for all of them (a mixed lab: one per host, in host order).
    releases: tuple[str, ...] = (DEFAULT_RELEASE,)
    # What the hosts are for: a swarm (docker_hosts, swarm_*) or a Kubernetes cluster (kube_control_plane: the
    # first `managers` hosts, kube_nodes: all of them).
    orchestrator: str = "swarm"

    def __post_init__(self):
        if not self.name.replace("-", "").isalnum() or not self.name[0].isalpha():
            raise UsageError(f"--name {self.name!r}: use letters, digits and dashes, starting with a letter")
        if not 1 <= self.hosts <= MAX_HOSTS:
            raise UsageError(f"--hosts {self.hosts}: a lab has 1 to {MAX_HOSTS} hosts")
        if self.managers < 1 or self.managers % 2 == 0 or self.managers > self.hosts:
            raise UsageError(
                f"--managers {self.managers}: Swarm needs an odd number of managers (1, 3, 5, ...) "
                f"and no more than --hosts ({self.hosts}) to keep a quorum"
            )
        if self.orchestrator not in ORCHESTRATORS:
            raise UsageError(f"--orchestrator {self.orchestrator}: one of {', '.join(ORCHESTRATORS)}")
        unknown = sorted(set(self.releases) - set(RELEASES))
        if unknown or len(self.releases) not in (1, self.hosts):
            raise UsageError(
                f"--release {','.join(self.releases)}: give one of {', '.join(RELEASES)} for every host, or one "
                f"per host in host order ({self.hosts} of them)"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            )

    @property
    def network(self) -> str:
        return f"dockyard-{self.name}"

    def host_names(self) -> list[str]:
        return [f"node{i}" for i in range(1, self.hosts + 1)]

    def host_releases(self) -> list[str]:
        return list(self.releases) * self.hosts if len(self.releases) == 1 else list(self.releases)

    def layout(self, subnet: ipaddress.IPv4Network) -> list[LabHost]:
        return [
            LabHost(name, f"dockyard-{self.name}-{name}", str(subnet.network_address + FIRST_HOST_OFFSET + i), release,
                    self.orchestrator == "kubernetes")
            for i, (name, release) in enumerate(zip(self.host_names(), self.host_releases(), strict=True))
        ]

    @property
    def key_path(self) -> Path:
        return self.inventory_dir / "id_ed25519"

    @property
    def inventory_path(self) -> Path:
        return self.inventory_dir / "hosts.yml"

    @property
    def known_hosts_path(self) -> Path:
        return self.inventory_dir / "known_hosts"

    @property
    def password_path(self) -> Path:
        return self.inventory_dir / "registry.password"

    @property
    def images_dir(self) -> Path:
        return self.inventory_dir / "images"


def default_managers(hosts: int) -> int:
    return 1 if hosts < 5 else 3


def inventory(spec: LabSpec, hosts: list[LabHost], gateway: str = "") -> dict:
    """The lab inventory with the groups of shared/DESIGN.md (``gateway``: the lab network's, this machine)."""
    if spec.orchestrator == "kubernetes":
        return kubernetes_inventory(spec, hosts, gateway)
    names = [h.name for h in hosts]
    managers, workers = names[: spec.managers], names[spec.managers:]
    return {
        "all": {
            "vars": {**connection_vars(spec), **registry_vars(spec)},
            "children": {
                "docker_hosts": {"hosts": {h.name: {"ansible_host": h.address} for h in hosts}},
                "swarm_managers": {"hosts": dict.fromkeys(managers)},
                "swarm_workers": {"hosts": dict.fromkeys(workers)},
                "registry": {"hosts": dict.fromkeys(names[:1])},
                "builders": {"hosts": dict.fromkeys(names[:1])},
            },
        }
    }


def registry_vars(spec: LabSpec) -> dict:
    """The registry and the images, built in the lab: no public registry is reachable from it."""
    return {
        "registry_password": f"{{{{ lookup('ansible.builtin.file', '{spec.password_path.resolve()}') }}}}",
        "registry_image": "dockyard/registry:2.8",
        "registry_image_context": str((spec.images_dir / "registry").resolve()),
        "images_build": [
            {"name": "busybox", "tag": "1", "context": str((spec.images_dir / "busybox").resolve())},
            {"name": "web", "tag": "1", "context": str(collection_root() / "examples" / "stacks" / "web"),
             "build_args": {"BASE": "{{ registry_endpoint }}/busybox:1"}},
        ],
    }


def connection_vars(spec: LabSpec) -> dict:
    return {
        "ansible_user": "root",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_private_key_file": str(spec.key_path.resolve()),
        # Lab hosts make new host keys when they are created; `lab up` writes them to this file (read over
        # `docker exec`, not over the network), and ssh accepts no other.
        "ansible_ssh_common_args": f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile="
                                  f"{spec.known_hosts_path.resolve()} -o LogLevel=ERROR",
        "dockyard_lab": spec.name,
    }


def kubernetes_inventory(spec: LabSpec, hosts: list[LabHost], gateway: str) -> dict:
    """A Kubernetes cluster of lab hosts, with the settings this machine needs (docs/kubernetes.md)."""
    names = [h.name for h in hosts]
    return {"all": {
        "vars": dict(connection_vars(spec), **{
            # This kernel is cgroup v1, which Kubernetes takes only when told to.
            "kubernetes_allow_cgroup_v1": True,
            # No CAP_SYS_RESOURCE for lab hosts: runc cannot lower a pod's oom_score_adj.
            "kubernetes_restrict_oom_score_adj": True,
            # A lab host's resolv.conf is Docker's 127.0.0.11, a loop for CoreDNS; this machine answers no DNS,
            # so names outside the cluster fail in the lab instead of leaving it.
            "kubernetes_upstream_nameservers": [gateway],
            # A lab host stopped by a test: its pods start elsewhere after 30 s, not Kubernetes' 5 minutes.
            "kubernetes_pod_eviction_timeout": 30,
        }, **registry_vars(spec)),
        "children": {
            "kube_control_plane": {"hosts": {h.name: {"ansible_host": h.address} for h in hosts[: spec.managers]}},
            # Every lab host runs pods, the control plane too (in both groups, as kubespray has it), so that the
            # sample stack has as many nodes to run on as it has on a swarm of the same hosts.
            "kube_nodes": {"hosts": {h.name: {"ansible_host": h.address} for h in hosts}},
            # The last host also runs an Engine with the registry and builds the images the cluster pulls, as a
            # small site keeps its registry on one of its servers.
            "docker_hosts": {"hosts": dict.fromkeys(names[-1:])},
            "registry": {"hosts": dict.fromkeys(names[-1:])},
            "builders": {"hosts": dict.fromkeys(names[-1:])},
        },
    }}


def render_inventory(spec: LabSpec, hosts: list[LabHost], gateway: str = "") -> str:
    header = (f"# Generated by `dockyard lab up --name {spec.name}`; `dockyard lab down` removes it.\n"
              "# Edit a copy, not this file: the next `lab up` rewrites it.\n")
    return header + yaml.safe_dump(inventory(spec, hosts, gateway), sort_keys=False, default_flow_style=False)


def ensure_secrets(spec: LabSpec) -> None:
    """The lab's SSH key and registry password, made once and kept with its inventory."""
    spec.inventory_dir.mkdir(parents=True, exist_ok=True)
    if not spec.key_path.is_file():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"dockyard-lab-{spec.name}",
                        "-f", str(spec.key_path)], check=True)
    if not spec.password_path.is_file():
        spec.password_path.touch(mode=0o600)
        spec.password_path.write_text(secrets.token_urlsafe(24), encoding="utf-8")
