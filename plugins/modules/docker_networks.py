#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: docker_networks
short_description: Reconcile the whole set of Docker networks of a host (or of the swarm) in one call
description:
  - Takes every network a host should have - or, on a swarm manager, every overlay network of the swarm - and
    makes the Engine match it in one call. Creates what is missing. A network whose settings differ is removed
    and created again (Docker cannot change a network in place), but only when no container or swarm service
    uses it; otherwise the task fails naming them. With O(purge), removes networks this module made (label
    C(io.dockyard.managed-by)) that are no longer declared.
  - Validates everything before it changes anything - invalid CIDRs, a gateway or range outside its subnet,
    declared subnets that overlap each other or a network already on the host (the message names both),
    options that do not fit the driver, an encrypted overlay on a kernel that cannot do the IPsec ESP (AES-GCM)
    it needs (probed in a throw-away network namespace). A refused set leaves the host as it was.
  - Compares only what is declared; what the Engine fills in by itself (a subnet it picked, driver options it
    adds) is not drift.
version_added: 1.0.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
  - dockyard.fleet.docker.changing_module
options:
  encrypt_by_default:
    description:
      - Encrypt the overlay networks that do not say C(encrypted) where this kernel can carry it (CIS 7.4); where
        it cannot, they are made unencrypted with a warning saying why (RV(unencrypted)).
    type: bool
    default: false
  networks:
    description: The networks. Each has a C(name) and optionally the keys below.
    type: list
    elements: dict
    required: true
    suboptions:
      name: {description: Network name., type: str, required: true}
      driver:
        description: Network driver; C(bridge) by default with O(scope=local), C(overlay) with O(scope=swarm).
        type: str
        choices: [bridge, overlay, macvlan, ipvlan]
      subnet: {description: Subnet in CIDR notation; empty lets the Engine pick one., type: str}
      gateway: {description: Gateway address inside the subnet., type: str}
      ip_range: {description: Range (CIDR) inside the subnet that containers get addresses from., type: str}
      internal: {description: No route to the outside., type: bool, default: false}
      attachable: {description: Overlay only - standalone containers may join., type: bool, default: false}
      encrypted:
        description:
          - Overlay only - encrypt VXLAN traffic between hosts (IPsec). Not given, O(encrypt_by_default) decides.
        type: bool
      options: {description: Driver options (for macvlan/ipvlan C(parent) names the host interface)., type: dict}
      labels: {description: Network labels., type: dict}
  scope:
    description:
      - C(local) manages the host's own networks (every driver but overlay); C(swarm) manages overlay networks and
        must run on a swarm manager. O(purge) only looks at networks of that scope.
    type: str
    choices: [local, swarm]
    default: local
  purge:
    description: Remove networks this module created earlier that are no longer declared (only when unused).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: The host's bridge networks
  dockyard.fleet.docker_networks:
    networks:
      - {name: backend, subnet: 10.20.0.0/24, gateway: 10.20.0.1, internal: true}
      - {name: frontend, subnet: 10.21.0.0/24, labels: {tier: web}}
    purge: true

- name: The swarm's overlay networks, on the first manager
  dockyard.fleet.docker_networks:
    scope: swarm
    networks:
      - {name: mesh, driver: overlay, subnet: 10.30.0.0/24, attachable: true, encrypted: true}
  run_once: true
"""

RETURN = r"""
created: {description: Networks created., returned: always, type: list, elements: str}
recreated: {description: Networks removed and created again with the declared settings., returned: always,
            type: list, elements: str}
removed: {description: Networks removed by O(purge)., returned: always, type: list, elements: str}
unencrypted:
  description: Overlay networks O(encrypt_by_default) left unencrypted, and the kernel's reason.
  returned: when O(encrypt_by_default) found a kernel that cannot encrypt
  type: dict
  sample: {"networks": ["mesh"], "reason": "Error: Requested AEAD algorithm not found."}
"""

import ipaddress

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._kernel import esp_missing
from ansible_collections.dockyard.fleet.plugins.module_utils._module import DockyardModule, Refused
from ansible_collections.dockyard.fleet.plugins.module_utils._reconcile import declared_twice, report_and_apply

OWNER = "io.dockyard.managed-by"
OWNER_VALUE = "dockyard.fleet.docker_networks"
ENCRYPTED = "encrypted"


def network_spec(net, scope):
    """The declared network as the Engine's create body (only what was declared)."""
    driver = net["driver"] or ("overlay" if scope == "swarm" else "bridge")
    if (driver == "overlay") != (scope == "swarm"):
        raise Refused(f"network {net['name']}: driver {driver} belongs to scope "
                      f"{'swarm' if driver == 'overlay' else 'local'}, this call manages scope {scope}")
    if driver != "overlay" and (net["attachable"] or net["encrypted"]):
        raise Refused(f"network {net['name']}: attachable and encrypted are overlay settings, not {driver}")
    options = {str(k): str(v) for k, v in (net.get("options") or {}).items()}
    if net["encrypted"]:
        options[ENCRYPTED] = ""
    ipam = {}
    if net.get("subnet"):
        subnet = parse(net["name"], "subnet", net["subnet"], ipaddress.ip_network)
        ipam["Subnet"] = str(subnet)
        for key, field in (("gateway", "Gateway"), ("ip_range", "IPRange")):
            if net.get(key):
                value = parse(net["name"], key, net[key],
                              ipaddress.ip_address if key == "gateway" else ipaddress.ip_network)
                inside = value in subnet if key == "gateway" else value.subnet_of(subnet)
                if not inside or (key == "gateway" and value in (subnet.network_address, subnet.broadcast_address)):
                    raise Refused(f"network {net['name']}: {key} {value} is not a usable address inside its subnet "
                                  f"{subnet}")
                ipam[field] = str(value)
    elif net.get("gateway") or net.get("ip_range"):
        raise Refused(f"network {net['name']}: gateway and ip_range need a subnet")
    return {
        "Name": net["name"], "Driver": driver, "Internal": net["internal"], "Attachable": net["attachable"],
        "Options": options, "IPAM": {"Driver": "default", "Config": [ipam] if ipam else []},
        "Labels": {**{str(k): str(v) for k, v in (net.get("labels") or {}).items()}, OWNER: OWNER_VALUE},
        "CheckDuplicate": True,
    }


def parse(name, key, value, parser):
    try:
        return parser(value)
    except ValueError as exc:
        raise Refused(f"network {name}: {key} {value!r} is not valid ({exc})") from exc


def subnets(network):
    return [ipaddress.ip_network(c["Subnet"], strict=False)
            for c in (network.get("IPAM") or {}).get("Config") or [] if c.get("Subnet")]


def check_overlaps(desired, existing):
    """Declared subnets must not overlap each other, nor a network on the host that stays."""
    seen = []
    for spec in desired:
        for subnet in subnets(spec):
            for other_name, other in seen:
                if subnet.version == other.version and subnet.overlaps(other):
                    raise Refused(f"networks {other_name} ({other}) and {spec['Name']} ({subnet}) overlap")
            seen.append((spec["Name"], subnet))
    declared = {spec["Name"] for spec in desired}
    for network in existing:
        if network["Name"] in declared:
            continue
        for subnet in subnets(network):
            for name, mine in seen:
                if mine.version == subnet.version and mine.overlaps(subnet):
                    raise Refused(f"network {name} ({mine}) overlaps the existing network {network['Name']} "
                                  f"({subnet}) on this host; choose another subnet")


def differences(current, spec):
    """Declared settings the existing network does not have (what the Engine filled in itself is ignored)."""
    found = []
    for key in ("Driver", "Internal", "Attachable"):
        if current.get(key) != spec[key]:
            found.append(f"{key.lower()} {current.get(key)} -> {spec[key]}")
    have = current.get("Options") or {}
    for key, value in spec["Options"].items():
        if have.get(key) != value:
            found.append(f"option {key}")
    if ENCRYPTED in have and ENCRYPTED not in spec["Options"]:
        found.append("encrypted -> false")
    for want in spec["IPAM"]["Config"]:
        have = [{k: c.get(k) for k in want} for c in (current.get("IPAM") or {}).get("Config") or []]
        if have != [want]:
            found.append(f"ipam {have} -> {[want]}")
    if (current.get("Labels") or {}) != spec["Labels"]:
        found.append("labels")
    return found


def users(api, network, scope):
    """Containers (local) or services (swarm) attached to the network."""
    if scope == "swarm":
        return sorted(s["Spec"]["Name"] for s in api.get("/services")
                      if any(n.get("Target") in (network["Id"], network["Name"])
                             for n in s["Spec"].get("TaskTemplate", {}).get("Networks") or []))
    detail = api.get(f"/networks/{network['Id']}")
    return sorted(c.get("Name", cid[:12]) for cid, c in (detail.get("Containers") or {}).items())


def default_encryption(module, params, result):
    """Decide ``encrypted`` where a network leaves it out: overlays are encrypted by default where the kernel can
    carry it (CIS 7.4); where it cannot, they are made unencrypted and the reason is returned and warned."""
    undecided = [net for net in params["networks"] if net["encrypted"] is None]
    overlays = [net["name"] for net in undecided if (net["driver"] or "overlay") == "overlay"
                and params["scope"] == "swarm"]
    missing = esp_missing(module) if overlays and params["encrypt_by_default"] else "not asked for"
    for net in undecided:
        net["encrypted"] = net["name"] in overlays and not missing
    if overlays and params["encrypt_by_default"] and missing:
        result["unencrypted"] = {"networks": overlays, "reason": missing}
        module.warn(f"overlay network(s) {', '.join(overlays)} are not encrypted: this kernel cannot add the IPsec "
                    f"ESP (AES-GCM) states Docker encrypts overlay traffic with (`ip xfrm` says: {missing})")


def summary(network_or_spec):
    return {"driver": network_or_spec.get("Driver"), "internal": network_or_spec.get("Internal"),
            "attachable": network_or_spec.get("Attachable"), "options": network_or_spec.get("Options") or {},
            "ipam": (network_or_spec.get("IPAM") or {}).get("Config") or [],
            "labels": network_or_spec.get("Labels") or {}}


def main():
    module = DockyardModule(
        argument_spec=dict(
            networks={"type": "list", "elements": "dict", "required": True, "options": {
                "name": {"type": "str", "required": True},
                "driver": {"type": "str", "choices": ["bridge", "overlay", "macvlan", "ipvlan"]},
                "subnet": {"type": "str"},
                "gateway": {"type": "str"},
                "ip_range": {"type": "str"},
                "internal": {"type": "bool", "default": False},
                "attachable": {"type": "bool", "default": False},
                "encrypted": {"type": "bool"},
                "options": {"type": "dict"},
                "labels": {"type": "dict"},
            }},
            scope={"type": "str", "choices": ["local", "swarm"], "default": "local"},
            purge={"type": "bool", "default": False},
            encrypt_by_default={"type": "bool", "default": False},
        ),
        supports_check_mode=True,
    )
    p = module.params
    host = module.host
    api = module.api
    result = {"changed": False, "created": [], "recreated": [], "removed": []}
    try:
        duplicates = declared_twice([net["name"] for net in p["networks"]])
        if duplicates:
            raise Refused(f"network {', '.join(duplicates)} is declared more than once")
        default_encryption(module, p, result)
        desired = [network_spec(net, p["scope"]) for net in p["networks"]]
        existing = module.before_install(lambda: api.get("/networks"), [])
        check_overlaps(desired, existing)
        in_scope = {n["Name"]: n for n in existing if (n.get("Scope") == "swarm") == (p["scope"] == "swarm")}
        plan = []
        for spec in desired:
            current = in_scope.get(spec["Name"])
            if current is None:
                plan.append(("created", spec, None))
            elif differences(current, spec):
                plan.append(("recreated", spec, current))
        if p["purge"]:
            declared = {spec["Name"] for spec in desired}
            plan += [("removed", None, n) for name, n in sorted(in_scope.items())
                     if name not in declared and (n.get("Labels") or {}).get(OWNER) == OWNER_VALUE]
        for _action, spec, current in plan:  # everything is checked before anything changes
            if spec and ENCRYPTED in spec["Options"]:
                missing = esp_missing(module)
                if missing:
                    raise Refused(f"network {spec['Name']} is encrypted, but this kernel cannot add the IPsec ESP "
                                  f"(AES-GCM) states Docker encrypts overlay traffic with (`ip xfrm` says: {missing}); "
                                  "the network would exist and carry nothing between hosts. Declare it with "
                                  "encrypted: false, or use hosts whose kernel has esp4 and gcm(aes)")
            if current is not None:
                busy = users(api, current, p["scope"])
                if busy:
                    why = (f"its settings changed ({'; '.join(differences(current, spec))})" if spec
                           else "it is no longer declared and purge is on")
                    raise Refused(f"network {current['Name']} must be {'recreated' if spec else 'removed'} because "
                                  f"{why}, but {', '.join(busy)} use{'s' if len(busy) == 1 else ''} it; stop or "
                                  "move them first")
        report_and_apply(module, result, plan, summary,
                         remove=lambda current: api.request("DELETE", f"/networks/{current['Id']}"),
                         create=lambda spec: api.request("POST", "/networks/create", body=spec))
    except Refused as exc:
        module.fail_json(msg=f"Networks on {host}: {exc}. Nothing was changed.", **result)
    except DockerError as exc:
        done = ", ".join(result["created"] + result["recreated"] + result["removed"]) or "nothing"
        module.fail_json(msg=f"Networks on {host}: the Engine refused a change: {exc} (planned: {done}).", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
