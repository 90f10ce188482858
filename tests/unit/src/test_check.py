"""`dockyard check`'s inventory rules, decided before anything is sent to a host."""

import json
import subprocess
import sys

from dockyard.check import (
    KUBE_PROBE,
    Problem,
    check_addresses,
    check_groups,
    check_variables,
    kube_problems,
    role_specs,
)
from dockyard.collection import collection_module


def test_groups_need_docker_hosts_an_odd_manager_count_and_one_role_per_host():
    assert check_groups({"docker_hosts": {"a", "b", "c"}, "swarm_managers": {"a"}, "swarm_workers": {"b", "c"}}) == []
    problems = [str(p) for p in check_groups({"docker_hosts": {"a", "b"}, "swarm_managers": {"a", "b"},
                                              "swarm_workers": {"b"}, "registry": {"z"}})]
    assert problems == [
        "z: is in registry but not in docker_hosts. Fix: add z to docker_hosts",
        "b: is in both swarm_managers and swarm_workers. Fix: keep it in one of them",
        "inventory: swarm_managers has 2 hosts (a, b); a swarm needs an odd number. Fix: use 1, 3, 5 or 7 managers "
        "(an even number tolerates no more failures than one fewer)",
    ]
    # The swarm role's preflight asks the same rules through the filter, and says the same lines.
    lines = collection_module("plugins.filter.group_problems").FilterModule().filters()["group_problems"](
        {"docker_hosts": ["a", "b"], "swarm_managers": ["a", "b"], "swarm_workers": ["b"], "registry": ["z"]})
    assert lines == problems
    assert [p.where for p in check_groups({})] == ["inventory"]  # no docker_hosts at all


def test_a_kubernetes_host_may_run_an_engine_but_not_join_a_swarm():
    cluster = {"kube_control_plane": {"cp"}, "kube_nodes": {"n1", "n2"}}
    # The registry's host in the cluster: an Engine beside the kubelet.
    assert check_groups({**cluster, "docker_hosts": {"n2"}, "registry": {"n2"}, "builders": {"n2"}}) == []
    assert check_groups({**cluster, "kube_nodes": {"cp", "n1"}}) == []  # a control plane that runs pods
    problems = [str(p) for p in check_groups({**cluster, "kube_control_plane": {"cp", "x"}, "docker_hosts": {"n1", "m"},
                                              "swarm_managers": {"m"}, "swarm_workers": {"n1"}})]
    assert problems == [
        "inventory: kube_control_plane has 2 hosts (cp, x); etcd needs an odd number. Fix: use 1, 3 or 5 control "
        "plane hosts",
        "n1: is in a swarm group and in a Kubernetes group: their service meshes would share its iptables. Fix: run "
        "Swarm and Kubernetes on hosts of their own",
    ]


def test_two_hosts_on_one_address_and_port_are_named_together():
    hosts = {"a": {"ansible_host": "10.0.0.1"}, "b": {"ansible_host": "10.0.0.1"},
             "c": {"ansible_host": "10.0.0.1", "ansible_port": 2222}, "10.0.0.2": {}}
    assert [str(p) for p in check_addresses(hosts)] == [
        "a, b: share the address 10.0.0.1:22. Fix: give each host its own ansible_host (or ansible_port)"]


def test_role_variables_are_checked_by_name_and_value_against_the_roles_argument_specs():
    specs = role_specs()
    hosts = {"n1": {"engine_sorce": "distro", "engine_source": "docker_hub", "engine_tls_api": "{{ x }}",
                    "dockyard_state_dir": "/srv/state", "swarm_autolock": True}}
    problems = [str(p) for p in check_variables(hosts, specs, {})]
    assert problems[0] == "n1: unknown variable engine_sorce. Fix: use engine_source"
    assert len(problems) == 2 and "engine_source" in problems[1] and "docker_hub" in problems[1]


def test_the_kubernetes_probe_reads_what_the_kubelet_needs_and_names_each_missing_thing():
    found = json.loads(subprocess.run([sys.executable, "-c", KUBE_PROBE], capture_output=True, text=True,
                                      check=True).stdout)  # this machine's own
    assert set(found) == {"swap", "cgroup2", "init", "br_netfilter", "member", "ports"}
    assert all(isinstance(port, int) for port in found["ports"])
    fit = {"swap": 0, "cgroup2": True, "init": "systemd", "br_netfilter": True, "member": False, "ports": [22]}
    assert kube_problems("node1", {}, fit, control_plane=True) == []
    unfit = {"swap": 1, "cgroup2": False, "init": "tini", "br_netfilter": False, "member": False,
             "ports": [22, 2379, 10250]}
    said = [p.what for p in kube_problems("node1", {}, unfit, control_plane=True)]
    assert [w.split(" ")[0:3] for w in said] == [
        ["has", "swap", "on"], ["its", "kernel", "runs"], ["runs", "tini", "as"], ["its", "kernel", "has"],
        ["port", "2379,", "which"], ["port", "10250,", "which"]]
    assert len(kube_problems("node2", {"kubernetes_allow_cgroup_v1": True}, unfit, control_plane=False)) == 4
    assert kube_problems("node1", {}, {**unfit, "swap": 0, "cgroup2": True, "init": "systemd",
                                       "br_netfilter": True, "member": True}, control_plane=True) == []


def test_a_kubernetes_probe_that_fails_on_the_host_is_one_problem_naming_why(monkeypatch):
    import paramiko

    from dockyard.check import probe

    class Output:
        def __init__(self, text):
            self.text = text

        def read(self):
            return self.text.encode()

    answers = [("3 11\n", ""), ("", "Traceback (most recent call last):\nFileNotFoundError: /proc/swaps\n")]

    class Client:  # answers the two commands the probe sends: python3's version, then KUBE_PROBE
        def __getattr__(self, name):
            return lambda *args, **kwargs: None

        def exec_command(self, command, timeout=None):
            out, err = answers.pop(0)
            return None, Output(out), Output(err)

    monkeypatch.setattr(paramiko, "SSHClient", Client)
    (problem,) = probe("node1", {"ansible_host": "127.0.0.1"}, kube_role="node")
    assert problem.where == "node1" and problem.what.endswith("failed there: FileNotFoundError: /proc/swaps")


def test_a_host_name_with_a_line_break_is_one_line_of_its_problem():
    assert str(Problem("a\x85b", "is unreachable", "start it")).splitlines() == [
        "a\\x85b: is unreachable. Fix: start it"]
