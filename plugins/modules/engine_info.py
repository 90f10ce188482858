#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: engine_info
short_description: Wait for Docker Engine to answer and report its version, settings and swarm state
description:
  - Asks the Docker Engine on the target host for C(/version) and C(/info) through the collection's own
    Engine API client (no Docker SDK for Python needed).
  - The host's C(python3) runs the read with the collection's Engine API client alone, sent on its standard input,
    not as an Ansible module. A converged run reads every host, and starting Ansible's module framework would cost
    each host about five times the read (0.17 s of CPU against 0.035 s). The read is therefore not logged in the
    host's journal as module invocations are.
  - With O(wait_timeout), waits until the Engine answers; used after every daemon (re)start so that a
    restart is always followed by a readiness check.
version_added: 1.0.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
  - dockyard.fleet.docker.info_module
  - dockyard.fleet.attributes.action
attributes:
  action:
    support: full
    details: The control machine sends the read to the host's Python over the connection; no module is sent.
options:
  wait_timeout:
    description:
      - Seconds to wait for the Engine to answer before failing. V(0) asks once.
    type: int
    default: 0
  missing_ok:
    description:
      - When nothing listens on the Engine's socket, report an Engine that is not running (RV(engine.running)
        false, swarm state C(inactive)) instead of failing. Lets check mode on a host whose Engine is only
        about to be installed predict what follows.
    type: bool
    default: false
  nodes:
    description:
      - On a swarm manager, also return the swarm's node list (RV(engine.swarm.nodes)), so that a playbook can tell
        from this one read whether the nodes need anything (the filter P(dockyard.fleet.swarm_nodes_settled#filter)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Wait up to 60 seconds for Docker Engine after a restart
  dockyard.fleet.engine_info:
    wait_timeout: 60

- name: Read the Engine's state
  dockyard.fleet.engine_info:
  register: engine

- name: Show the storage driver
  ansible.builtin.debug:
    msg: "{{ engine.engine.storage_driver }}"
"""

RETURN = r"""
engine:
  description: The Engine's version and the settings operators ask about most.
  returned: success
  type: dict
  contains:
    server_version: {description: Docker Engine version., type: str, sample: 20.10.24+dfsg1}
    api_version: {description: API version the module negotiated., type: str, sample: "1.41"}
    os: {description: Operating system as the Engine reports it., type: str, sample: Debian GNU/Linux 12 (bookworm)}
    kernel_version: {description: Kernel version., type: str}
    storage_driver: {description: Storage driver in use., type: str, sample: overlay2}
    cgroup_driver: {description: Cgroup driver., type: str, sample: systemd}
    cgroup_version: {description: Cgroup version., type: str, sample: "1"}
    docker_root_dir: {description: The Engine's data root., type: str, sample: /var/lib/docker}
    logging_driver: {description: Default logging driver., type: str, sample: json-file}
    live_restore: {description: Whether live-restore is on., type: bool}
    containers_running: {description: Number of running containers., type: int}
    images: {description: Number of images., type: int}
    running:
      description: Whether the Engine answered (false only with O(missing_ok)).
      type: bool
    swarm:
      description: Swarm state of this node.
      type: dict
      contains:
        state: {description: "C(inactive), C(pending), C(active), C(error) or C(locked).", type: str}
        node_id: {description: Node ID when part of a swarm., type: str}
        is_manager: {description: Whether this node is a manager., type: bool}
        cluster_id:
          description: The swarm's ID as this manager sees it (empty on workers and without a leader).
          type: str
        autolock:
          description: Whether the swarm's managers lock their raft keys (autolock), as this manager sees it (false on
            workers).
          type: bool
        epoch:
          description: When the swarm was last rebuilt by C(dockyard swarm recover) (its C(dockyard.recovered) label).
          type: str
        error: {description: "The swarm's error as this node reports it, e.g. that the swarm has no leader.", type: str}
        managers:
          description: Addresses (C(ip:2377)) of the swarm's managers this node knows.
          type: list
          elements: str
        nodes:
          description: The swarm's nodes as the Engine API lists them (ID, Spec, Status, ManagerStatus, the host name).
          returned: with O(nodes), on a manager of a swarm that has a leader
          type: list
          elements: dict
"""
