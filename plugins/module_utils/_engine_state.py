# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What engine_info reports: the Engine's version, the settings operators ask about most and the node's swarm state.
Standard library and _docker_api only: it runs on the host without Ansible's module framework (plugin_utils._remote)."""

from __future__ import annotations

import contextlib
import os

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    EPOCH_LABEL,
    DockerAPI,
    DockerError,
    DockerUnreachable,
)

NOT_RUNNING = {"running": False, "swarm": {"state": "inactive", "node_id": None, "is_manager": False,
                                           "cluster_id": "", "autolock": False, "epoch": "", "error": "",
                                           "managers": []}}


def engine_facts(api):
    version = api.version()
    info = api.info()
    swarm = info.get("Swarm") or {}
    spec = (swarm.get("Cluster") or {}).get("Spec") or {}
    return {
        "running": True,
        "server_version": version.get("Version"),
        "api_version": api.api_version,
        "os": info.get("OperatingSystem"),
        "kernel_version": info.get("KernelVersion"),
        "storage_driver": info.get("Driver"),
        "cgroup_driver": info.get("CgroupDriver"),
        "cgroup_version": info.get("CgroupVersion"),
        "docker_root_dir": info.get("DockerRootDir"),
        "logging_driver": info.get("LoggingDriver"),
        "live_restore": info.get("LiveRestoreEnabled"),
        "containers_running": info.get("ContainersRunning"),
        "images": info.get("Images"),
        "swarm": {
            "state": swarm.get("LocalNodeState"),
            "node_id": swarm.get("NodeID") or None,
            "is_manager": bool(swarm.get("ControlAvailable")),
            "cluster_id": (swarm.get("Cluster") or {}).get("ID") or "",
            "autolock": bool((spec.get("EncryptionConfig") or {}).get("AutoLockManagers")),
            "epoch": (spec.get("Labels") or {}).get(EPOCH_LABEL, ""),
            "error": swarm.get("Error") or "",
            "managers": sorted(m["Addr"] for m in swarm.get("RemoteManagers") or [] if m.get("Addr")),
        },
    }


def node_list(api):
    """Each node as swarm_nodes plans from it (its Description only the host name)."""
    return [dict({key: node[key] for key in ("ID", "Spec", "Status", "ManagerStatus") if key in node},
                 Description={"Hostname": (node.get("Description") or {}).get("Hostname")})
            for node in api.get("/nodes")]


def read(docker_host, api_timeout, wait_timeout=0, missing_ok=False, nodes=False):
    """engine_info's answer: ``{"engine": ...}``, or ``{"failed": True, "msg": ...}`` naming the host."""
    api = DockerAPI(docker_host, api_timeout)
    try:
        if wait_timeout > 0:
            api.wait_until_ready(wait_timeout)
        facts = engine_facts(api)
        if nodes and facts["swarm"]["is_manager"]:
            # A swarm without a leader (lost quorum) lists no nodes; its state above says so.
            with contextlib.suppress(DockerError):
                facts["swarm"]["nodes"] = node_list(api)
    except DockerError as exc:  # DockerUnreachable too: nothing listens on the socket
        if not (missing_ok and isinstance(exc, DockerUnreachable)):
            return {"failed": True, "msg": f"Failed to read Docker Engine state on {os.uname().nodename}: {exc}"}
        facts = NOT_RUNNING
    return {"engine": facts}
