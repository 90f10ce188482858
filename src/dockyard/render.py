"""`dockyard render`: a compose stack as Kubernetes manifests, validated against the Kubernetes schemas.

The compose file is read exactly as `dockyard deploy` reads it (the collection's compose_inline filter and the
swarm path's checks), converted by plugins/plugin_utils/_kubernetes.py, and validated with kubernetes-validate
(the official OpenAPI schemas, strict: unknown fields are errors) for the Kubernetes version asked for.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from dockyard.collection import collection_module
from dockyard.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from dockyard.inventory import check_yaml_sources, load_yaml
from dockyard.report import write_private

DEFAULT_K8S_VERSION = "1.30"


def _collection():
    """The collection's own code that renders: the compose filter, its error, the Kubernetes mapping."""
    return (collection_module("plugins.filter.compose").compose_inline,
            collection_module("plugins.module_utils._compose").ComposeError,
            collection_module("plugins.plugin_utils._kubernetes"))


def schema_version(version: str) -> str:
    """``version`` as kubernetes-validate names its schemas (1.30 -> 1.30.0), or a UsageError listing those it has."""
    import kubernetes_validate

    known = sorted(set(kubernetes_validate.utils.all_versions()), key=lambda v: tuple(map(int, v.split("."))))
    wanted = version if version.count(".") == 2 else f"{version}.0"
    if wanted not in known:
        minors = ", ".join(v.rsplit(".", 1)[0] for v in known)
        raise UsageError(f"--k8s-version {version}: no Kubernetes schemas for it; the versions known are {minors}")
    return wanted


def validate(objects: list[dict], version: str) -> list[str]:
    """Schema errors of each object for Kubernetes ``version`` (strict: unknown fields are errors)."""
    import kubernetes_validate

    version = schema_version(version)
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']} {obj['metadata']['name']}: {exc.message} (at {'.'.join(map(str, exc.path))})")
    return errors


def registry_of(inventory: str, vault) -> dict | None:
    """The registry's address and login as the registry role works them out from the inventory (its first
    `registry` host, registry_address or ansible_host:registry_port, the pull account), or None."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    from ansible.vars.manager import VariableManager

    from dockyard.check import ansible_warnings
    from dockyard.collection import collection_root, state_root

    loader = DataLoader()
    vault.load_secrets(loader)
    with ansible_warnings():
        manager = InventoryManager(loader=loader, sources=[inventory])
    registry = manager.groups.get("registry")
    hosts = registry.get_hosts() if registry else []
    if not hosts:
        return None
    # The role's defaults are templates too (the pull account's name). Those that call lookups - the state directory,
    # the pull password made there - are worked out here instead: lookups need Ansible's plugin loader.
    defaults = {name: trust_as_template(value) if isinstance(value, str) else value for name, value in
                yaml.safe_load((collection_root() / "roles/registry/defaults/main.yml").read_text("utf-8")).items()
                if name not in ("registry_state_dir", "registry_pull_password")}
    host_vars = dict(defaults, **VariableManager(loader=loader, inventory=manager).get_vars(host=hosts[0]))
    templar = Templar(loader=loader, variables=host_vars)

    def value(name, default=""):
        return str(templar.template(host_vars.get(name, default)))

    if not value("registry_password"):
        raise UsageError(f"{inventory}: registry_password is not set for {hosts[0].name}")
    address = value("registry_address") or f"{value('ansible_host', hosts[0].name)}:{value('registry_port')}"
    # The pull account: every pod's pull Secret is readable in its namespace, so never the push account's login.
    return {"address": address, "username": value("registry_pull_username"),
            "password": value("registry_pull_password") if "registry_pull_password" in host_vars
            else pull_password(Path(value("registry_state_dir") or value("dockyard_state_dir") or state_root()))}


def pull_password(state: Path) -> str:
    """The pull account's password the registry role made in the state directory (its password lookup's file)."""
    path = state / "keys" / "registry-pull.password"
    try:
        return path.read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError) as exc:
        raise UsageError(f"{path} holds no pull password ({getattr(exc, 'strerror', None) or 'empty'}): `dockyard up` "
                         "makes it with the "
                         "registry; run it first from this directory, or set registry_pull_password") from exc


def file_name(index: int, obj: dict) -> str:
    return f"{index:02d}-{obj['kind'].lower()}-{re.sub(r'[^a-z0-9.-]', '-', obj['metadata']['name'])}.yaml"


def render(args) -> int:
    from ansible.errors import AnsibleError

    compose_inline, compose_error, kubernetes = _collection()
    stack_file = args.stack_file.resolve()
    if not stack_file.is_file():
        raise UsageError(f"stack file {args.stack_file} does not exist")
    name = args.name or stack_file.parent.name
    schema_version(args.k8s_version)  # a version it cannot validate for fails before anything is read
    compose = load_yaml(stack_file, "compose file")
    if not isinstance(compose, dict):
        raise UsageError(f"{args.stack_file}: a compose file is a mapping (services:, networks:, ...), not "
                         f"{type(compose).__name__ if compose is not None else 'empty'}")
    variables = dict(item.split("=", 1) if "=" in item else (item, "") for item in args.var)
    registry = None
    if args.inventory:
        check_yaml_sources(args.inventory)
        registry = registry_of(args.inventory, args.vault)
        if registry:
            variables.setdefault("DOCKYARD_REGISTRY", registry["address"])
    try:
        read = compose_inline(compose, str(stack_file.parent), variables)
        result = kubernetes.render(name, read["compose"], read["secrets"], args.lossy, publish=args.publish,
                                   volume_size=args.volume_size, storage_class=args.storage_class,
                                   pull_secret=args.pull_secret, registry_auth=registry)
    except kubernetes.Refused as exc:
        for path, why in exc.refusals:
            print(f"dockyard: render: refused {path}: {why}", file=sys.stderr)
        print(f"dockyard: render: {len(exc.refusals)} key(s) of {args.stack_file} have no Kubernetes form; change "
              "them, or give --lossy to leave them out (listed as warnings)", file=sys.stderr)
        return EXIT_USAGE
    except (compose_error, AnsibleError) as exc:  # the compose file's own errors, the filter's (unreadable files)
        raise UsageError(f"{args.stack_file}: {exc}") from exc
    errors = validate(result["objects"], args.k8s_version)
    for path, what in result["notes"]:
        print(f"dockyard: render: note {path}: {what}", file=sys.stderr)
    for path, why in result["refused"]:
        print(f"dockyard: render: warning: left out {path}: {why}", file=sys.stderr)
    for error in errors:
        print(f"dockyard: render: invalid for Kubernetes {args.k8s_version}: {error}", file=sys.stderr)
    if errors:
        return EXIT_FAILED
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        for stale in args.output.glob("[0-9][0-9]-*.yaml"):
            stale.unlink()  # a service removed from the compose file leaves no manifest behind
        for index, obj in enumerate(result["objects"]):  # a Secret's manifest holds its value
            write_private(args.output / file_name(index, obj), kubernetes.to_yaml([obj]))
        print(f"{len(result['objects'])} manifests in {args.output}; apply with: kubectl apply --server-side "
              f"-f {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(kubernetes.to_yaml(result["objects"]))
    return EXIT_OK
