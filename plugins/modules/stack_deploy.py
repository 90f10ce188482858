#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: stack_deploy
short_description: Deploy a compose stack to Docker Swarm, wait until it runs, roll back on failure
description:
  - Runs on a swarm manager. Turns the compose file (the keys C(docker stack deploy) uses) into swarm networks,
    secrets, configs and services named and labelled as C(docker stack deploy) names them, and reconciles them
    in one call - only services whose spec changed are updated, so an unchanged stack reports changed=false.
  - Waits until every created or updated service has all its replicas running (and healthy, when it has a
    healthcheck) or O(wait_timeout) passes. On failure it names the service and the task error, and with
    O(rollback) rolls updated services back to their previous spec.
  - Secrets and configs are immutable in swarm; their names carry a hash of their content, so new content makes
    a new version that the services switch to, and versions no service uses any more are removed. A secret's hash
    is keyed with O(secret_name_key), so whoever can list the secrets cannot confirm a guessed value.
  - Secret contents travel only in O(secrets), which Ansible never logs (not in the host's journal either), while
    O(compose) may be logged.
  - The swarm routing mesh needs IPVS in the kernel. A stack that publishes ports in ingress mode on a manager
    without IPVS is refused with an explanation; publish with C(mode=host) there.
  - Images from a private registry are pulled with the manager's login for that registry (what C(docker login)
    and M(dockyard.fleet.registry_login) keep in C(~/.docker/config.json)), sent along with the services as
    C(docker stack deploy --with-registry-auth) does, so workers need no login of their own.
version_added: 1.0.0
author: dockyard developers (@dockyard)
options:
  name:
    description: Stack name; objects are called C(<name>_<object>).
    type: str
    required: true
  compose:
    description:
      - The compose file's content. Configs need C(content) (the stack role reads their C(file) on the control
        machine) or C(external); secrets need their content in O(secrets) or C(external), and never a C(content)
        here (this option is logged).
    type: dict
  secrets:
    description:
      - The content of each secret the compose file declares (not C(external)), by its name under C(secrets).
        Never logged. M(dockyard.fleet.compose_inline) reads them from the secrets' C(file) on the control machine.
    type: dict
    default: {}
  secret_name_key:
    description:
      - Key of the HMAC-SHA256 in secret names (C(<stack>_<secret>_<first 10 hex digits>)). Keep it the same for
        a cluster, or every secret gets a new name (and its services restart). Never logged. Required when
        O(secrets) is not empty. The stack role keeps one per cluster in the dockyard state directory.
    type: str
  pull_login:
    description:
      - The login the swarm hands to the nodes that run a service's tasks, for images of O(pull_login.registry)
        (what C(docker stack deploy --with-registry-auth) sends). Not given, the manager's own stored login is
        sent; give a pull-only account so that a push login on a manager never reaches a worker. Never logged.
    type: dict
    suboptions:
      registry: {description: The registry's address (C(HOST:PORT))., type: str, required: true}
      username: {description: The account., type: str, required: true}
      password: {description: Its password (never logged)., type: str, required: true}
  state:
    description: C(present) deploys the stack, C(absent) removes its services, networks, secrets and configs.
    type: str
    choices: [present, absent]
    default: present
  wait_timeout:
    description: Seconds to wait for created and updated services to run all their replicas. V(0) does not wait.
    type: int
    default: 300
  rollback:
    description: When a service does not come up, roll the services this run updated back to their previous spec.
    type: bool
    default: false
  encrypt_networks:
    description:
      - Make the stack's new overlay networks encrypted (IPsec between hosts; CIS 7.4) where the compose file's
        C(driver_opts) leave C(encrypted) out and this kernel can carry it. Where it cannot, they are made
        unencrypted with a warning saying why. Existing networks are left as they are.
    type: bool
    default: false
  prune:
    description: Remove services of the stack that the compose file no longer has.
    type: bool
    default: true
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
attributes:
  check_mode:
    support: full
    details: Reports which services would be created, updated and removed, with a diff, changing nothing.
  diff_mode:
    support: full
    details: The changed services' specs before and after.
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Deploy the web stack (its config files read on the control machine) and roll back if it does not come up
  dockyard.fleet.stack_deploy:
    name: web
    compose: "{{ stack.compose }}"
    secrets: "{{ stack.secrets }}"
    rollback: true
    wait_timeout: 120
  vars:
    stack: >-
      {{ lookup('file', 'stacks/web/compose.yml') | from_yaml
         | dockyard.fleet.compose_inline('stacks/web', {'DOCKYARD_REGISTRY': registry_endpoint}) }}

- name: Deploy a stack with a secret, its content kept out of every log
  dockyard.fleet.stack_deploy:
    name: shop
    compose:
      services:
        api: {image: "registry.example.com:5000/shop:3", secrets: [dbpass]}
      secrets:
        dbpass: {}
    secrets:
      dbpass: "{{ vault_shop_dbpass }}"
    secret_name_key: "{{ vault_secret_name_key }}"
"""

RETURN = r"""
created:
  description: Services created.
  returned: always
  type: list
  elements: str
updated:
  description: Services updated.
  returned: always
  type: list
  elements: str
removed:
  description: Services removed.
  returned: always
  type: list
  elements: str
services:
  description: Replicas running and desired per service after the wait.
  returned: when the stack is present
  type: dict
  sample: {"web_web": {"running": 3, "desired": 3}}
"""

import json
import time

from ansible_collections.dockyard.fleet.plugins.module_utils._compose import (
    NAMESPACE,
    SECRET_IN_ENVIRONMENT,
    SPEC_HASH,
    ComposeError,
    Stack,
    spec_hash,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
    DockerUnreachable,
    wait_for,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._kernel import esp_missing, kernel_module
from ansible_collections.dockyard.fleet.plugins.module_utils._module import Differences, DockyardModule
from ansible_collections.dockyard.fleet.plugins.module_utils._registry_auth import (
    auth_header,
    config_path,
    headers_for,
    read_config,
    registry_of,
)

FAILED_UPDATE_STATES = ("paused", "rollback_started", "rollback_paused", "rollback_completed")
FAILED_TASK_STATES = ("failed", "rejected")
FAILURES_BEFORE_GIVING_UP = 3


class DeployFailed(Exception):
    pass


def filters(**values):
    return {"filters": json.dumps(values)}


def project(current, desired):
    """The part of ``current`` that ``desired`` speaks about, for a readable diff."""
    if isinstance(desired, dict) and isinstance(current, dict):
        return {key: project(current.get(key), value) for key, value in desired.items()}
    return current


class Deployer:
    def __init__(self, module, api, name):
        self.module = module
        self.api = api
        self.name = name
        self.label = f"{NAMESPACE}={name}"

    def listing(self, kind, **query):
        return self.api.request("GET", f"/{kind}", query=dict(filters(label=[self.label]), **query))

    def encrypted(self, spec):
        """``spec`` with the overlay encrypted where encrypt_networks asks for it and the kernel can carry it."""
        if (not self.module.params["encrypt_networks"] or spec["Driver"] != "overlay"
                or "encrypted" in spec["Options"]):
            return spec
        missing = esp_missing(self.module)
        if missing:
            self.module.warn(f"network {spec['Name']} is not encrypted: this kernel cannot add the IPsec ESP "
                             f"(AES-GCM) states Docker encrypts overlay traffic with (`ip xfrm` says: {missing})")
            return spec
        return dict(spec, Options=dict(spec["Options"], encrypted=""))

    def ensure_objects(self, stack):
        """Networks, secrets and configs the services need; returns name -> ID of each (names where not made yet)."""
        ids = {n["Name"]: n["Id"] for n in self.api.request("GET", "/networks")}
        for key, spec in stack.networks.items():
            if spec.get("external"):
                if spec["Name"] not in ids:
                    raise DeployFailed(f"external network '{spec['Name']}' (networks.{key}) does not exist")
            elif spec["Name"] not in ids and not self.module.check_mode:
                ids[spec["Name"]] = self.api.request("POST", "/networks/create",
                                                     body=dict(self.encrypted(spec), CheckDuplicate=True))["Id"]
        for kind, declared in (("secrets", stack.secrets), ("configs", stack.configs)):
            have = {o["Spec"]["Name"]: o["ID"] for o in self.api.request("GET", f"/{kind}")}
            for key, spec in declared.items():
                if spec["Name"] not in have and spec.get("external"):
                    raise DeployFailed(f"external {kind[:-1]} '{spec['Name']}' ({kind}.{key}) does not exist")
                if spec["Name"] not in have and not self.module.check_mode:
                    have[spec["Name"]] = self.api.request("POST", f"/{kind}/create", body=spec)["ID"]
                ids[spec["Name"]] = have.get(spec["Name"], "")
        return ids

    def services(self):
        return {s["Spec"]["Name"]: s for s in self.listing("services", status="true")}

    def current(self):
        """services(); in check mode before the Engine or the swarm exists (a first run), None: all is created."""
        try:
            return self.services()
        except DockerError as exc:
            if not (self.module.check_mode and (isinstance(exc, DockerUnreachable) or exc.status == 503)):
                raise
            return None

    def desired(self, stack, current):
        """Service name -> the spec to deploy, with the IDs of its networks, secrets and configs (made first)."""
        ids = self.ensure_objects(stack) if current is not None else {}
        desired = {}
        for spec in stack.services.values():
            spec["Labels"][SPEC_HASH] = spec_hash(spec)
            # The Engine stores network IDs; the hash above stays on names, which do not change.
            for network in spec["TaskTemplate"]["Networks"]:
                network["Target"] = ids.get(network["Target"], network["Target"])
            for kind, id_key, name_key in (("Secrets", "SecretID", "SecretName"),
                                           ("Configs", "ConfigID", "ConfigName")):
                for ref in spec["TaskTemplate"]["ContainerSpec"].get(kind, []):
                    ref[id_key] = ids.get(ref[name_key], "")
            desired[spec["Name"]] = spec
        return desired

    def roll_back(self, names, timeout):
        """Roll ``names`` back to their previous spec and wait; what happened, for the failure message."""
        fresh = self.services()
        for service in names:
            self.api.request("POST", f"/services/{fresh[service]['ID']}/update",
                             query={"version": fresh[service]["Version"]["Index"], "rollback": "previous"},
                             body=fresh[service]["Spec"])
        said = f" Rolled back {', '.join(names)} to the previous version."
        try:
            self.wait(names, timeout, utc_now(), rollback=True)
        except DeployFailed as again:
            said += f" The rollback did not come up either: {again}."
        return said

    def wait(self, names, timeout, started, rollback=False):
        """Wait until every service in ``names`` runs all replicas of its current spec (healthy, where it has a
        healthcheck: swarm reports such tasks running only once healthy); raise DeployFailed naming the first
        that fails. While rolling back, failures of the version being replaced are expected: only the
        rollback's own state counts."""
        seen = {}

        def pending():
            seen.update(self.services())
            return [name for name in names if not self.settled(seen[name], started, rollback)]

        late = wait_for(pending, timeout, 0.25)
        if late:
            raise DeployFailed(self.failure(seen[late[0]], f"not all replicas ran within {timeout}s", started))
        return {n: {"running": s["ServiceStatus"]["RunningTasks"], "desired": s["ServiceStatus"]["DesiredTasks"]}
                for n, s in seen.items()}

    def settled(self, service, started, rollback):
        state = (service.get("UpdateStatus") or {}).get("State")
        if state in (("rollback_paused",) if rollback else FAILED_UPDATE_STATES):
            raise DeployFailed(self.failure(service, f"its update {state.replace('_', ' ')}", started))
        tasks = self.tasks(service)
        live = [t for t in tasks if t.get("DesiredState") == "running"]
        desired = (service.get("ServiceStatus") or {}).get("DesiredTasks", 0)
        if not rollback:
            failures = failed_since(tasks, started)
            if (len(failures) >= FAILURES_BEFORE_GIVING_UP and len(live) < desired) or len(failures) > 2 * desired + 2:
                raise DeployFailed(self.failure(service, f"{len(failures)} of its tasks failed", started))
        template = task_spec(service["Spec"]["TaskTemplate"])
        finished = state == "rollback_completed" if rollback else state not in ("updating", "rollback_started")
        return (finished and len(live) == desired
                and all(t["Status"]["State"] == "running" and task_spec(t.get("Spec")) == template for t in live))

    def tasks(self, service):
        return self.api.request("GET", "/tasks", query=filters(service=[service["ID"]]))

    def failure(self, service, what, started):
        failures = failed_since(self.tasks(service), started)
        detail = ""
        if failures:
            status = failures[-1]["Status"]
            detail = f"; last task error: {status.get('Err') or status.get('Message')}"
        return f"service {service['Spec']['Name']}: {what}{detail}"


def failed_since(tasks, started):
    """The service's tasks that failed since this run started, oldest first."""
    return sorted((t for t in tasks if t["Status"]["State"] in FAILED_TASK_STATES
                   and t["Status"].get("Timestamp", "") >= started), key=lambda t: t["Status"]["Timestamp"])


def task_spec(spec):
    """A task spec as tasks carry it: the service's template without the Runtime the manager fills in."""
    return {key: value for key, value in (spec or {}).items() if key != "Runtime"}


def pull_auth(spec, login=None):
    """What `docker stack deploy --with-registry-auth` sends: ``login`` for its registry, else the manager's login
    for the image's registry, which the swarm hands to every node that runs a task (workers keep no credentials of
    their own)."""
    image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    if login and registry_of(image) == login["registry"]:
        return {"X-Registry-Auth": auth_header(login["registry"], login["username"], login["password"])}
    try:
        return headers_for(image, read_config())
    except ValueError as exc:
        raise DockerError(f"{config_path()} is not valid JSON ({exc}); fix or remove it and log in again") from exc


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def main():
    module = DockyardModule(
        argument_spec=dict(
            name={"type": "str", "required": True},
            compose={"type": "dict"},
            secrets={"type": "dict", "default": {}, "no_log": True},
            secret_name_key={"type": "str", "no_log": True},
            pull_login={"type": "dict", "no_log": True, "options": {
                "registry": {"type": "str", "required": True}, "username": {"type": "str", "required": True},
                "password": {"type": "str", "required": True, "no_log": True}}},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            wait_timeout={"type": "int", "default": 300},
            rollback={"type": "bool", "default": False},
            encrypt_networks={"type": "bool", "default": False},
            prune={"type": "bool", "default": True},
        ),
        required_if=[("state", "present", ["compose"])],
        supports_check_mode=True,
    )
    params = module.params
    name = params["name"]
    host = module.host
    deployer = Deployer(module, module.api, name)
    result = {"changed": False, "created": [], "updated": [], "removed": []}
    try:
        stack = (Stack(name, params["compose"], {k: str(v) for k, v in params["secrets"].items()},
                       params["secret_name_key"]) if params["state"] == "present" else None)
    except ComposeError as exc:
        module.fail_json(msg=f"Stack {name}: the compose file is not deployable: {exc}. Nothing was changed.")
    for path in stack.secret_looking if stack else []:
        module.warn(f"Stack {name}: {path} {SECRET_IN_ENVIRONMENT}")
    if stack and stack.ingress_ports() and not kernel_module("ip_vs", "/proc/net/ip_vs"):
        ports = ", ".join(f"{svc}:{port}" for svc, port in stack.ingress_ports())
        module.fail_json(msg=f"Stack {name} publishes {ports} through the swarm routing mesh (ingress), but the kernel "
                             f"of {host} has no IPVS (ip_vs), which the mesh needs: those ports would never answer. "
                             "Publish them with `mode: host` (long port syntax), or run on hosts whose kernel has "
                             "IPVS. Nothing was changed.")
    api = deployer.api
    try:
        current = deployer.current()
        desired = deployer.desired(stack, current) if stack else {}
        current = current or {}
        create = sorted(set(desired) - set(current))
        update = sorted(n for n in set(desired) & set(current)
                        if current[n]["Spec"].get("Labels", {}).get(SPEC_HASH) != desired[n]["Labels"][SPEC_HASH])
        remove = sorted(set(current) - set(desired)) if params["prune"] or not stack else []
        differences = Differences()
        for service in create + update + remove:
            spec = current[service]["Spec"] if service in current else None
            differences.add(service, spec and project(spec, desired.get(service, spec)), desired.get(service))
        result = differences.report(module, dict(result, created=create, updated=update, removed=remove))
        if module.check_mode:
            module.exit_json(**result)

        started = utc_now()
        login = params["pull_login"]
        for service in create:
            api.request("POST", "/services/create", body=desired[service], headers=pull_auth(desired[service], login))
        for service in update:
            api.request("POST", f"/services/{current[service]['ID']}/update",
                        query={"version": current[service]["Version"]["Index"]}, body=desired[service],
                        headers=pull_auth(desired[service], login))
        try:
            if stack and params["wait_timeout"] > 0:
                result["services"] = deployer.wait(create + update, params["wait_timeout"], started)
        except DeployFailed as exc:
            said = deployer.roll_back(update, params["wait_timeout"]) if params["rollback"] and update else ""
            module.fail_json(msg=f"Stack {name} on {host}: {exc}.{said} Fix the service and deploy again.", **result)
        for service in remove:
            api.request("DELETE", f"/services/{current[service]['ID']}")
        prune_unused(api, deployer, desired, stack)
    except (DockerError, DeployFailed) as exc:
        module.fail_json(msg=f"Deploying stack {name} on {host} failed: {exc}", **result)
    module.exit_json(**result)


def delete_when_released(api, path, timeout=30):
    """DELETE an object that tasks of a removed or updated service may still hold for a few seconds."""
    def refused():
        try:
            api.request("DELETE", path, expect=(200, 204, 404))
        except DockerError as exc:
            if "not found" in str(exc):  # a swarm network being removed answers 500 "not found" for a moment
                return None
            if exc.status not in (400, 403, 409):
                raise
            return exc
        return None

    still_held = wait_for(refused, timeout)
    if still_held:
        raise still_held


def prune_unused(api, deployer, desired, stack):
    """Old secret/config versions no service uses any more; on removal, the stack's networks too."""
    used = {ref.get("SecretName") or ref.get("ConfigName") for spec in desired.values()
            for kind in ("Secrets", "Configs") for ref in spec["TaskTemplate"]["ContainerSpec"].get(kind, [])}
    for kind in ("secrets", "configs"):
        for obj in deployer.listing(kind):
            if obj["Spec"]["Name"] not in used:
                delete_when_released(api, f"/{kind}/{obj['ID']}")
    if stack is None:
        for network in deployer.listing("networks"):
            delete_when_released(api, f"/networks/{network['Id']}")
        wait_for(lambda: deployer.listing("networks"), 30, interval=0.5)  # swarm removes them asynchronously


if __name__ == "__main__":
    main()
