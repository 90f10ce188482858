#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: container
short_description: Run one long-lived container (a platform service such as the registry) and keep it as declared
description:
  - Creates and starts a container from the declared settings, and recreates it when they change. The settings
    are compared through a hash kept in the label C(io.dockyard.spec-hash), so a container is only touched when
    its declaration changed (or it is not running).
  - After a start it watches the container for up to a second; if it stops, the task fails with the container's
    last log lines. A container whose process listens on every port in O(ports) before then counts as started at
    once (its listening sockets are read from C(/proc)).
  - Meant for the few containers the platform itself runs outside a swarm, with the Engine API client of the
    collection (no Docker SDK on the host).
version_added: 1.0.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
  - dockyard.fleet.docker.changing_module
options:
  name:
    description: Container name.
    type: str
    required: true
  image:
    description: Image reference. Pulled when it is not on the host (with the host's login for its registry).
    type: str
  command:
    description: Arguments after the image's entrypoint.
    type: list
    elements: str
  env:
    description: Environment variables.
    type: dict
    default: {}
  ports:
    description: Published ports, C(HOST_PORT:CONTAINER_PORT) or C(ADDRESS:HOST_PORT:CONTAINER_PORT) (TCP).
    type: list
    elements: str
    default: []
  mounts:
    description: Volumes and bind mounts.
    type: list
    elements: dict
    default: []
    suboptions:
      type: {description: Mount type., type: str, choices: [volume, bind], default: volume}
      source: {description: Volume name or host path., type: str, required: true}
      target: {description: Path in the container., type: str, required: true}
      read_only: {description: Mount read-only., type: bool, default: false}
  labels:
    description: Container labels.
    type: dict
    default: {}
  memory:
    description: Memory limit, such as V(512m) or V(1g) (CIS 5.10). Not given, the container may use all of the host's.
    type: str
  cap_drop:
    description: Linux capabilities to drop, such as V([ALL]) (CIS 5.3).
    type: list
    elements: str
    default: []
  read_only:
    description: Mount the container's root file system read-only (CIS 5.12); it writes to its mounts alone.
    type: bool
    default: false
  pids_limit:
    description: The most processes the container may have (CIS 5.28). Not given, no limit.
    type: int
  restart_policy:
    description: Docker restart policy.
    type: str
    choices: ["no", on-failure, always, unless-stopped]
    default: unless-stopped
  restart_on:
    description:
      - Anything else whose change must recreate the container, such as hashes of the files it bind-mounts
        (a process reads its configuration at start). Only its value's hash is kept.
    type: raw
  state:
    description: C(started) runs the container as declared, C(absent) removes it (never its volumes).
    type: str
    choices: [started, absent]
    default: started
"""

EXAMPLES = r"""
- name: Run the registry
  dockyard.fleet.container:
    name: dockyard-registry
    image: registry:2
    ports: ["5000:5000"]
    mounts:
      - {source: dockyard-registry-data, target: /var/lib/registry}
      - {type: bind, source: /etc/dockyard/registry, target: /etc/docker/registry, read_only: true}
    restart_on: "{{ config_file.checksum }}"
"""

RETURN = r"""
action:
  description: C(created), C(recreated), C(started), C(removed) or C(none).
  returned: always
  type: str
container_id:
  description: ID of the container (not in check mode for a new one).
  returned: when the container exists
  type: str
"""

import time
from urllib.parse import quote

from ansible.module_utils.common.text.formatters import human_to_bytes
from ansible_collections.dockyard.fleet.plugins.module_utils._compose import SPEC_HASH, spec_hash
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
    stream_error,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._kernel import listening_sockets
from ansible_collections.dockyard.fleet.plugins.module_utils._module import Differences, DockyardModule
from ansible_collections.dockyard.fleet.plugins.module_utils._registry_auth import headers_for, read_config


def watch_start(api, container_id, exposed, seconds=1.0):
    """The container's state once it stopped, listens on every port of ``exposed`` (ExposedPorts: its process is
    past its start-up) or has run for ``seconds``."""
    ports = {int(key.split("/")[0]) for key in exposed}
    deadline = time.monotonic() + seconds
    while True:
        state = api.get(f"/containers/{container_id}/json")["State"]
        if (not state["Running"] or time.monotonic() >= deadline
                or (ports and ports <= {port for _address, port in listening_sockets(state["Pid"])})):
            return state
        time.sleep(0.1)


def container_config(p):
    port_bindings, exposed = {}, {}
    for port in p["ports"]:
        *host, container_port = port.split(":")
        address, host_port = (host if len(host) == 2 else ["", *host]) if host else ("", "")
        key = f"{container_port}/tcp"
        exposed[key] = {}
        port_bindings.setdefault(key, []).append({"HostIp": address, "HostPort": host_port})
    mounts = [{"Type": m["type"], "Source": m["source"], "Target": m["target"], "ReadOnly": m["read_only"]}
              for m in p["mounts"]]
    config = {
        "Image": p["image"],
        "Env": [f"{k}={v}" for k, v in sorted(p["env"].items())],
        "Labels": dict(p["labels"]),
        "ExposedPorts": exposed,
        "HostConfig": {"PortBindings": port_bindings, "Mounts": mounts,
                       "RestartPolicy": {"Name": p["restart_policy"]}},
    }
    if p["command"] is not None:
        config["Cmd"] = p["command"]
    if p["memory"]:
        config["HostConfig"]["Memory"] = human_to_bytes(p["memory"])
    # Each only where given, so a container without them keeps its spec hash.
    for option, key in (("cap_drop", "CapDrop"), ("read_only", "ReadonlyRootfs"), ("pids_limit", "PidsLimit")):
        if p[option]:
            config["HostConfig"][key] = p[option]
    config["Labels"][SPEC_HASH] = spec_hash([config, p["restart_on"]])
    return config


def ensure_image(api, image):
    if api.find(f"/images/{quote(image, safe='')}/json"):
        return
    name, _sep, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    error = stream_error(api.request("POST", "/images/create", query={"fromImage": name, "tag": tag},
                                     headers=headers_for(image, read_config()), stream=True, timeout=600))
    if error:
        raise DockerError(f"pulling {image} failed: {error}")


def main():
    module = DockyardModule(
        argument_spec=dict(
            name={"type": "str", "required": True},
            image={"type": "str"},
            command={"type": "list", "elements": "str"},
            env={"type": "dict", "default": {}},
            ports={"type": "list", "elements": "str", "default": []},
            mounts={"type": "list", "elements": "dict", "default": [], "options": {
                "type": {"type": "str", "choices": ["volume", "bind"], "default": "volume"},
                "source": {"type": "str", "required": True},
                "target": {"type": "str", "required": True},
                "read_only": {"type": "bool", "default": False},
            }},
            labels={"type": "dict", "default": {}},
            memory={"type": "str"},
            cap_drop={"type": "list", "elements": "str", "default": []},
            read_only={"type": "bool", "default": False},
            pids_limit={"type": "int"},
            restart_policy={"type": "str", "choices": ["no", "on-failure", "always", "unless-stopped"],
                            "default": "unless-stopped"},
            restart_on={"type": "raw"},
            state={"type": "str", "choices": ["started", "absent"], "default": "started"},
        ),
        required_if=[("state", "started", ["image"])],
        supports_check_mode=True,
    )
    p = module.params
    api = module.api
    host = module.host
    name = p["name"]
    try:
        current = module.before_install(lambda: api.find(f"/containers/{name}/json"), None)
        desired = container_config(p) if p["state"] == "started" else None
        have_hash = current and current["Config"]["Labels"].get(SPEC_HASH)
        if desired is None:
            action = "removed" if current else "none"
        elif current is None:
            action = "created"
        elif have_hash != desired["Labels"][SPEC_HASH]:
            action = "recreated"
        elif not current["State"]["Running"]:
            action = "started"
        else:
            action = "none"
        differences = Differences()
        differences.add("spec_hash", have_hash, desired and desired["Labels"][SPEC_HASH])
        differences.add("running", bool(current and current["State"]["Running"]), desired is not None)
        result = differences.report(module, {"action": action})
        if current:
            result["container_id"] = current["Id"]
        if module.check_mode or action == "none":
            module.exit_json(**result)
        if action in ("removed", "recreated"):
            api.request("DELETE", f"/containers/{current['Id']}", query={"force": "true"})
        if action in ("created", "recreated"):
            ensure_image(api, p["image"])
            result["container_id"] = api.request("POST", "/containers/create", query={"name": name},
                                                 body=desired)["Id"]
        if desired is not None:
            api.request("POST", f"/containers/{result['container_id']}/start", expect=(204, 304))
            state = watch_start(api, result["container_id"], desired["ExposedPorts"])
            if not state["Running"]:
                module.fail_json(msg=f"Container {name} on {host} stopped right after it started (exit code "
                                     f"{state.get('ExitCode')}). Its last output:\n{api.logs(result['container_id'])}",
                                 **result)
    except DockerError as exc:
        module.fail_json(msg=f"Container {name} on {host}: could not make it {p['state']}: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
