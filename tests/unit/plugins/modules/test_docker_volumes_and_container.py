"""Planning in docker_volumes, container and swarm_member: what is created, what differs, what a host does."""

import os
import socket

from ansible_collections.dockyard.fleet.plugins.module_utils._compose import SPEC_HASH
from ansible_collections.dockyard.fleet.plugins.module_utils._kernel import listening_sockets
from ansible_collections.dockyard.fleet.plugins.modules.container import container_config
from ansible_collections.dockyard.fleet.plugins.modules.docker_volumes import OWNER, differences, volume_spec
from ansible_collections.dockyard.fleet.plugins.modules.swarm_member import plan


def test_a_volume_differs_in_driver_options_or_labels_only():
    spec = volume_spec({"name": "data", "driver": "local", "options": {"type": "tmpfs", "o": 64}, "labels": None})
    assert spec["DriverOpts"] == {"type": "tmpfs", "o": "64"}
    assert spec["Labels"] == {OWNER: "dockyard.fleet.docker_volumes"}
    current = {"Driver": "local", "Options": {"type": "tmpfs", "o": "64"}, "Labels": dict(spec["Labels"]),
               "Mountpoint": "/var/lib/docker/volumes/data/_data", "Scope": "local"}
    assert differences(current, spec) == []
    assert differences(dict(current, Driver="nfs", Labels={}), spec) == ["driver nfs -> local", "labels"]


def container(**extra):
    return {"image": "reg:5000/web:1", "command": None, "env": {"B": "2", "A": "1"}, "labels": {}, "ports": [],
            "mounts": [], "restart_policy": "always", "memory": None, "restart_on": None, "cap_drop": [],
            "read_only": False, "pids_limit": None, **extra}


def test_container_config_binds_ports_and_hashes_everything_that_makes_the_container():
    config = container_config(container(ports=["8080:80", "127.0.0.1:9000:90"], memory="64m",
                                        mounts=[{"type": "volume", "source": "data", "target": "/d",
                                                 "read_only": True}]))
    assert config["Env"] == ["A=1", "B=2"]
    assert config["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                                    "90/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9000"}]}
    assert config["HostConfig"]["Memory"] == 64 * 1024 * 1024
    same, other = container_config(container()), container_config(container(restart_on="a new CA"))
    assert same["Labels"][SPEC_HASH] == container_config(container())["Labels"][SPEC_HASH]
    assert same["Labels"][SPEC_HASH] != other["Labels"][SPEC_HASH]  # restart_on changes it, not the config
    assert not {"CapDrop", "ReadonlyRootfs", "PidsLimit"} & set(same["HostConfig"])  # none given, none set
    hardened = container_config(container(cap_drop=["ALL"], read_only=True, pids_limit=200))["HostConfig"]
    assert (hardened["CapDrop"], hardened["ReadonlyRootfs"], hardened["PidsLimit"]) == (["ALL"], True, 200)


def test_a_started_container_counts_as_up_once_its_process_listens_on_its_ports():
    """listening_sockets reads the sockets of a process's network namespace: this test process's own, here."""
    with socket.socket() as server, socket.socket(socket.AF_INET6) as server6, socket.socket() as idle:
        server.bind(("127.0.0.1", 0))
        server6.bind(("::1", 0))
        idle.bind(("127.0.0.1", 0))  # bound, not listening
        server.listen()
        server6.listen()
        ports = {port for _address, port in listening_sockets(os.getpid())}
        assert {server.getsockname()[1], server6.getsockname()[1]} <= ports
        assert idle.getsockname()[1] not in ports
        assert ("0100007F", server.getsockname()[1]) in listening_sockets()  # this process's own, by default
    assert listening_sockets(2 ** 22 + 1) == []  # no such process: nothing listens


def test_a_host_inits_joins_leaves_or_does_nothing_from_its_own_swarm_state():
    def want(state="present", join_addrs=()):
        return {"state": state, "join_addrs": list(join_addrs)}

    assert plan(want(), {"local_state": "inactive"}) == "init"
    assert plan(want(join_addrs=["10.0.0.1:2377"]), {"local_state": "inactive"}) == "join"
    assert plan(want(join_addrs=["10.0.0.1:2377"]), {"local_state": "active"}) == "none"
    assert plan(want(), {"local_state": "locked"}) == "none"  # a locked member is unlocked, not joined again
    assert plan(want("absent"), {"local_state": "pending"}) == "leave"
    assert plan(want("absent"), {"local_state": "inactive"}) == "none"
