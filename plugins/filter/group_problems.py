# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory group rules every role relies on, in one place: `dockyard check` and the swarm role's preflight
both ask this filter."""

DOCUMENTATION = r"""
name: group_problems
short_description: What is wrong with an inventory's dockyard groups, each with the fix
version_added: 1.1.0
author: dockyard developers (@dockyard)
description:
  - Checks the groups dockyard's roles rely on - C(docker_hosts) holds every host that gets Docker Engine, and
    C(swarm_managers), C(swarm_workers), C(registry) and C(builders) only hosts from it; no host is both a swarm
    manager and a worker; a swarm has an odd number of managers.
  - A Kubernetes cluster - C(kube_control_plane) (an odd number of hosts, for etcd's quorum) and C(kube_nodes) (a
    control plane in both runs pods, as with kubespray), none of them a swarm member (one may be in
    C(docker_hosts), to run the registry or build).
  - Returns one line per problem, naming the host (or C(inventory)), what is wrong and the fix; empty when the
    groups are right.
options:
  _input:
    description: The inventory's groups, as Ansible's C(groups) variable (group name -> host names).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the inventory's groups
  ansible.builtin.assert:
    that: groups | dockyard.fleet.group_problems | length == 0
    fail_msg: "{{ groups | dockyard.fleet.group_problems | join('; ') }}"
"""

RETURN = r"""
_value:
  description: One line per problem - where (a host or C(inventory)), what is wrong, and the fix.
  type: list
  elements: str
"""

GROUPS_IN_DOCKER_HOSTS = ("swarm_managers", "swarm_workers", "registry", "builders")


def group_problems(groups):
    """(where, what, fix) for each rule ``groups`` (name -> host names) breaks."""
    groups = {name: set(hosts or ()) for name, hosts in groups.items()}
    problems = []
    docker_hosts = groups.get("docker_hosts", set())
    control_planes, nodes = groups.get("kube_control_plane", set()), groups.get("kube_nodes", set())
    if not docker_hosts and not control_planes:
        problems.append(("inventory", "the group docker_hosts is missing or empty",
                         "list every host that gets Docker Engine under docker_hosts (or a Kubernetes cluster's "
                         "under kube_control_plane and kube_nodes)"))
    if nodes and not control_planes:
        problems.append(("inventory", "kube_nodes has hosts but kube_control_plane has none",
                         "list the cluster's control plane host(s) under kube_control_plane"))
    if control_planes and len(control_planes) % 2 == 0:
        problems.append(("inventory", f"kube_control_plane has {len(control_planes)} hosts "
                         f"({', '.join(sorted(control_planes))}); etcd needs an odd number",
                         "use 1, 3 or 5 control plane hosts"))
    # An Engine beside the kubelet (the registry's host, a builder) shares containerd in its own namespace; a
    # swarm member beside kube-proxy would have two service meshes fighting over one host's iptables.
    swarm = groups.get("swarm_managers", set()) | groups.get("swarm_workers", set())
    for host in sorted((control_planes | nodes) & swarm):
        problems.append((host, "is in a swarm group and in a Kubernetes group: their service meshes would share "
                               "its iptables", "run Swarm and Kubernetes on hosts of their own"))
    for name in GROUPS_IN_DOCKER_HOSTS:
        for host in sorted(groups.get(name, set()) - docker_hosts):
            problems.append((host, f"is in {name} but not in docker_hosts", f"add {host} to docker_hosts"))
    managers, workers = groups.get("swarm_managers", set()), groups.get("swarm_workers", set())
    for host in sorted(managers & workers):
        problems.append((host, "is in both swarm_managers and swarm_workers", "keep it in one of them"))
    if (managers or workers) and len(managers) % 2 == 0:
        problems.append(("inventory", f"swarm_managers has {len(managers)} hosts "
                         f"({', '.join(sorted(managers)) or 'none'}); a swarm needs an odd number",
                         "use 1, 3, 5 or 7 managers (an even number tolerates no more failures than one fewer)"))
    return problems


def group_problem_lines(groups):
    return [f"{where}: {what}. Fix: {fix}" for where, what, fix in group_problems(groups)]


class FilterModule:
    def filters(self):
        return {"group_problems": group_problem_lines}
