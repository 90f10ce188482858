#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: swarm_services_info
short_description: List the swarm's services with their stack and running/desired replicas
description:
  - Runs on a swarm manager and reads every service with its task counts (Engine API C(GET /services?status=true)).
  - Used by C(dockyard status); handy in playbooks that wait for or report on stacks.
version_added: 1.0.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
  - dockyard.fleet.docker.info_module
"""

EXAMPLES = r"""
- name: Services of the swarm
  dockyard.fleet.swarm_services_info:
  register: swarm_services
"""

RETURN = r"""
services:
  description: One entry per service, sorted by name.
  returned: success
  type: list
  elements: dict
  contains:
    name: {description: Service name., type: str, sample: web_api}
    stack: {description: 'Stack (com.docker.stack.namespace label), empty when none.', type: str, sample: web}
    mode: {description: C(replicated) or C(global)., type: str}
    image: {description: Image of the service's tasks., type: str}
    running: {description: Tasks running., type: int}
    desired: {description: Tasks wanted., type: int}
"""

from ansible_collections.dockyard.fleet.plugins.module_utils._compose import NAMESPACE
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule


def main():
    module = DockyardModule(argument_spec={}, supports_check_mode=True)
    try:
        services = module.api.request("GET", "/services", query={"status": "true"})
    except DockerError as exc:
        module.fail_json(msg=f"Listing the swarm's services failed: {exc}. Is this host a swarm manager?")
    rows = []
    for service in services:
        spec, status = service["Spec"], service.get("ServiceStatus") or {}
        rows.append({"name": spec["Name"], "stack": (spec.get("Labels") or {}).get(NAMESPACE, ""),
                     "mode": "global" if "Global" in spec.get("Mode", {}) else "replicated",
                     "image": spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0],
                     "running": status.get("RunningTasks", 0), "desired": status.get("DesiredTasks", 0)})
    module.exit_json(changed=False, services=sorted(rows, key=lambda row: row["name"]))


if __name__ == "__main__":
    main()
