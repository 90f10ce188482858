#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: docker_volumes
short_description: Reconcile the named Docker volumes of a host in one call, never losing data by accident
description:
  - Takes every named volume a host should have and makes the Engine match it in one call. Creates what is
    missing. A volume whose driver, options or labels differ must be removed and created again (Docker cannot
    change a volume); that happens only when no container uses it and it holds no data, or with O(remove_data).
  - With O(purge), removes volumes this module made (label C(io.dockyard.managed-by)) that are no longer
    declared - again only when unused and empty (or with O(remove_data)); the others are kept and named in
    RV(kept) and a warning.
  - A volume that mounts something (C(device) or C(type) options, such as NFS or a block device) counts as
    holding data, since its content is not on this host to look at.
version_added: 1.0.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
  - dockyard.fleet.docker.changing_module
options:
  volumes:
    description: The volumes.
    type: list
    elements: dict
    required: true
    suboptions:
      name: {description: Volume name., type: str, required: true}
      driver: {description: Volume driver., type: str, default: local}
      options:
        description: Driver options, for the local driver those of C(mount) (C(type), C(device), C(o)).
        type: dict
      labels: {description: Volume labels., type: dict}
  purge:
    description: Remove volumes this module created earlier that are no longer declared (unused and empty only).
    type: bool
    default: false
  absent:
    description:
      - Names of volumes to remove whoever made them (such as a container's named volume), with the same care as
        O(purge) - unused, and empty unless O(remove_data).
    type: list
    elements: str
    default: []
  remove_data:
    description:
      - Allow removing (for O(purge), O(absent) or to recreate) unused volumes that hold data. The data is lost.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Volumes of the host
  dockyard.fleet.docker_volumes:
    volumes:
      - {name: pgdata, labels: {backup: daily}}
      - {name: scratch, options: {type: tmpfs, device: tmpfs, o: size=256m}}
      - {name: shared, options: {type: nfs, o: "addr=10.0.0.5,rw,nfsvers=4", device: ":/exports/shared"}}
    purge: true
"""

RETURN = r"""
created: {description: Volumes created., returned: always, type: list, elements: str}
recreated: {description: Volumes removed and created again., returned: always, type: list, elements: str}
removed: {description: Volumes removed by O(purge) or O(absent)., returned: always, type: list, elements: str}
kept:
  description: Undeclared volumes O(purge) left alone, with the reason.
  returned: always
  type: list
  elements: dict
"""

import json
import os

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule
from ansible_collections.dockyard.fleet.plugins.module_utils._reconcile import declared_twice, report_and_apply

OWNER = "io.dockyard.managed-by"
OWNER_VALUE = "dockyard.fleet.docker_volumes"


def volume_spec(vol):
    return {"Name": vol["name"], "Driver": vol["driver"],
            "DriverOpts": {str(k): str(v) for k, v in (vol.get("options") or {}).items()},
            "Labels": {**{str(k): str(v) for k, v in (vol.get("labels") or {}).items()}, OWNER: OWNER_VALUE}}


def differences(current, spec):
    found = []
    if current.get("Driver") != spec["Driver"]:
        found.append(f"driver {current.get('Driver')} -> {spec['Driver']}")
    if (current.get("Options") or {}) != spec["DriverOpts"]:
        found.append("options")
    if (current.get("Labels") or {}) != spec["Labels"]:
        found.append("labels")
    return found


def why_not_removable(api, volume, remove_data):
    """None when the volume may go; otherwise the reason, naming the containers or the data."""
    filters = json.dumps({"volume": [volume["Name"]]})
    users = sorted(c["Names"][0].lstrip("/") for c in api.get("/containers/json", all="1", filters=filters))
    if users:
        return f"container{'s' if len(users) > 1 else ''} {', '.join(users)} use{'' if len(users) > 1 else 's'} it"
    options = volume.get("Options") or {}
    if remove_data or options.get("type") == "tmpfs":  # a tmpfs volume holds nothing while no container uses it
        return None
    if options.get("device") or options.get("type"):
        return f"it mounts {options.get('device') or options.get('type')}, whose data dockyard cannot see"
    mountpoint = volume.get("Mountpoint") or ""
    if os.path.isdir(mountpoint) and os.listdir(mountpoint):
        return f"it holds data ({mountpoint} is not empty)"
    return None


def summary(volume):
    return {"driver": volume.get("Driver"), "options": volume.get("Options", volume.get("DriverOpts")) or {},
            "labels": volume.get("Labels") or {}}


def main():
    module = DockyardModule(
        argument_spec=dict(
            volumes={"type": "list", "elements": "dict", "required": True, "options": {
                "name": {"type": "str", "required": True},
                "driver": {"type": "str", "default": "local"},
                "options": {"type": "dict"},
                "labels": {"type": "dict"},
            }},
            purge={"type": "bool", "default": False},
            absent={"type": "list", "elements": "str", "default": []},
            remove_data={"type": "bool", "default": False},
        ),
        supports_check_mode=True,
    )
    p = module.params
    host = module.host
    api = module.api
    result = {"changed": False, "created": [], "recreated": [], "removed": [], "kept": []}
    try:
        names = [vol["name"] for vol in p["volumes"]]
        duplicates = declared_twice(names)
        if duplicates:
            module.fail_json(msg=f"Volumes on {host}: {', '.join(duplicates)} declared more than once. "
                                 "Nothing was changed.", **result)
        volumes = module.before_install(lambda: api.get("/volumes").get("Volumes") or [], [])
        existing = {v["Name"]: v for v in volumes}
        plan = []
        for spec in map(volume_spec, p["volumes"]):
            current = existing.get(spec["Name"])
            if current is None:
                plan.append(("created", spec, None))
            elif differences(current, spec):
                reason = why_not_removable(api, current, p["remove_data"])
                if reason:
                    module.fail_json(msg=f"Volumes on {host}: volume {spec['Name']} must be recreated because its "
                                         f"{', '.join(differences(current, spec))} changed, but {reason}. Move its "
                                         "data and users away, or set remove_data to lose it. Nothing was changed.",
                                     **result)
                plan.append(("recreated", spec, current))
        declared = set(names)
        for name, volume in sorted(existing.items()):
            ours = p["purge"] and (volume.get("Labels") or {}).get(OWNER) == OWNER_VALUE
            if name not in declared and (ours or name in p["absent"]):
                reason = why_not_removable(api, volume, p["remove_data"])
                if reason:
                    result["kept"].append({"name": name, "reason": reason})
                else:
                    plan.append(("removed", None, volume))
        for kept in result["kept"]:
            module.warn(f"volume {kept['name']} is no longer declared but was kept: {kept['reason']}")
        report_and_apply(module, result, plan, summary,
                         remove=lambda current: api.request("DELETE", f"/volumes/{current['Name']}"),
                         create=lambda spec: api.request("POST", "/volumes/create", body=spec))
    except DockerError as exc:
        module.fail_json(msg=f"Volumes on {host}: the Engine refused a change: {exc}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
