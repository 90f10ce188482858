"""The `dockyard` command: a thin argument layer over testable functions."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from dockyard import __version__, check, lab, report, vault
from dockyard.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, DockyardError, UsageError
from dockyard.inventory import check_yaml_sources, load_yaml
from dockyard.quiet import quiet_libraries
from dockyard.render import DEFAULT_K8S_VERSION
from dockyard.render import render as render_stack
from dockyard.runner import run_playbook


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockyard",
        description="One Ansible inventory in, a working container platform out.",
    )
    parser.add_argument("--version", action="version", version=f"dockyard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="count", default=0,
                         help="more of Ansible's output in the log (-vvv for connections), and libraries' own "
                              "warnings on the console (repeatable, as ansible-playbook's)")
    inventory = argparse.ArgumentParser(add_help=False, parents=[verbose])
    inventory.add_argument("-i", "--inventory", required=True, help="inventory file or directory")
    vault.add_options(inventory)
    connection = argparse.ArgumentParser(add_help=False)  # as ansible-playbook's: the inventory's own vars win
    connection.add_argument("-u", "--user", help="connect as this user where the inventory sets no ansible_user")
    connection.add_argument("--private-key", metavar="FILE",
                            help="SSH key where the inventory sets no ansible_ssh_private_key_file")
    connection.add_argument("-f", "--forks", type=int, help="hosts at once (default: every host, up to 100)")
    hosts = argparse.ArgumentParser(add_help=False, parents=[connection])  # commands that act on chosen hosts
    hosts.add_argument("-l", "--limit", help="these hosts or groups only (Ansible pattern)")
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE",
                       help="set a variable (repeatable; @file works as in Ansible)")
    run_options = argparse.ArgumentParser(add_help=False, parents=[extra])  # commands that run a changing playbook
    run_options.add_argument("-C", "--check", action="store_true", help="predict changes, change nothing")
    run_options.add_argument("-D", "--diff", action="store_true", help="show what changes, with the change itself")

    up = commands.add_parser("up", parents=[inventory, hosts, run_options],
                             help="build the whole platform from an inventory (playbooks/site.yml)",
                             description="Run playbooks/site.yml against an inventory, with live progress "
                                         "and a summary table. The exit code is 0 only when every host succeeded.")
    up.add_argument("-t", "--tags", help="run only tasks with these tags (comma-separated)")
    up.add_argument("--skip-tags", help="run every task but those with these tags (comma-separated)")
    up.set_defaults(func=cmd_up)

    deploy = commands.add_parser("deploy", parents=[inventory, hosts, run_options],
                                 help="deploy a compose stack to the swarm or the Kubernetes cluster "
                                      "(playbooks/deploy.yml)",
                                 description="Deploy a compose file as a stack from the first swarm manager: only "
                                             "changed services are updated, then dockyard waits until every replica "
                                             "runs and rolls updated services back if they do not come up. With "
                                             "--to kubernetes, render it as `dockyard render` does and apply it "
                                             "through the API server (server-side apply), wait for every rollout "
                                             "and remove what the stack no longer has. "
                                             "Role variables such as stack_wait_timeout=60 or stack_rollback=false "
                                             "go in with -e.")
    deploy.add_argument("stack_file", type=Path, metavar="STACK_FILE", help="compose file of the stack")
    deploy.add_argument("-n", "--name", help="stack name (default: the compose file's directory name)")
    deploy.add_argument("--absent", action="store_true", help="remove the stack instead")
    deploy.add_argument("--to", choices=["swarm", "kubernetes"], default="swarm",
                        help="the swarm_managers' swarm (default) or the kube_control_plane's cluster")
    deploy.set_defaults(func=cmd_deploy)
    render = commands.add_parser(
        "render", parents=[verbose], help="render a compose stack as Kubernetes manifests, validated",
        description="Turn the compose file `dockyard deploy` takes into Kubernetes manifests (Namespace, "
                    "NetworkPolicies, ConfigMaps, Secrets, PersistentVolumeClaims, Services, Deployments and "
                    "DaemonSets), validated against the Kubernetes API schemas. Every compose key is converted or "
                    "refused with its path and reason (docs/kubernetes.md); nothing is dropped without a word.")
    render.add_argument("stack_file", type=Path, metavar="STACK_FILE", help="compose file of the stack")
    render.add_argument("--to", choices=["kubernetes"], default="kubernetes", help="target (kubernetes)")
    render.add_argument("-n", "--name", help="stack name, the namespace (default: the compose file's directory)")
    render.add_argument("-o", "--output", type=Path, metavar="DIR",
                        help="write one file per object into DIR (default: one YAML stream on standard output)")
    render.add_argument("--k8s-version", default=DEFAULT_K8S_VERSION, metavar="VERSION",
                        help=f"Kubernetes version to validate against (default {DEFAULT_K8S_VERSION})")
    render.add_argument("--lossy", action="store_true", help="leave out what has no Kubernetes form, as warnings")
    render.add_argument("--publish", choices=["loadbalancer", "nodeport"], default="loadbalancer",
                        help="Service type for ports published through the routing mesh (default loadbalancer)")
    render.add_argument("--volume-size", default="1Gi", help="size each PersistentVolumeClaim requests (1Gi)")
    render.add_argument("--storage-class", help="storage class of the claims (default: the cluster's)")
    render.add_argument("--pull-secret", metavar="NAME", help="image pull secret every pod uses")
    render.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                        help="value for ${KEY} in the compose file, e.g. DOCKYARD_REGISTRY=10.0.0.11:5000")
    render.add_argument("-i", "--inventory",
                        help="take the registry's address (DOCKYARD_REGISTRY) and login (an image pull secret) "
                             "from this inventory, as the registry role does")
    vault.add_options(render)
    render.set_defaults(func=lambda args: render_stack(args))

    check_cmd = commands.add_parser("check", parents=[inventory, hosts, extra],
                                    help="find every problem of an inventory before anything changes",
                                    description="Check the inventory's groups (docker_hosts, an odd number of "
                                                "swarm_managers, ...), every role variable against its role's "
                                                "argument spec and duplicate addresses, then SSH to every host in "
                                                "parallel and ask for python3. Reports every problem at once.")
    check_cmd.set_defaults(func=cmd_check)

    status = commands.add_parser("status", parents=[inventory, hosts],
                                 help="hosts, Engines, swarm roles and stack replicas, read from the hosts",
                                 description="Read every host's Engine (version, swarm state and role, running "
                                             "containers) and the swarm's services (replicas running/wanted) and "
                                             "print them as two tables. Exit 0 when every host answers with a "
                                             "running Engine and every service runs all its replicas.")
    status.set_defaults(func=cmd_status)

    audit = commands.add_parser(
        "audit", parents=[inventory, hosts],
        help="check every host against the CIS Docker Benchmark, reading only",
        description="Read every host's auditd watches, dockerd settings, Docker's files, running containers and "
                    "swarm (one module call per host) and print each CIS Docker Benchmark v1.6.0 check as PASS, "
                    "WARN or INFO with its reason. Exit 0 unless a host cannot be read (3) or, with --strict, "
                    "a check warns (1).")
    audit.add_argument("--json", type=Path, metavar="FILE", help="also write the checks as JSON to FILE")
    audit.add_argument("--strict", action="store_true", help="exit 1 when any check warns")
    audit.set_defaults(func=cmd_audit)

    gc = commands.add_parser("registry-gc", parents=[inventory, connection],
                             help="free the registry's unreferenced blobs (playbooks/registry_gc.yml)",
                             description="Stop the registry, run its garbage collection (blobs and untagged "
                                         "manifests no tag refers to) and start it again, whatever happens.")
    gc.set_defaults(func=cmd_registry_gc)

    swarm = commands.add_parser("swarm", help="swarm operations for a bad day")
    swarm_commands = swarm.add_subparsers(dest="swarm_command", required=True, metavar="ACTION")
    recover = swarm_commands.add_parser(
        "recover", parents=[inventory, connection, run_options],
        help="rebuild a swarm that lost its quorum, keeping its services (playbooks/recover.yml)",
        description="When a majority of the swarm's managers is lost, rebuild the swarm from the surviving manager "
                    "with the newest raft state (swarm init --force-new-cluster keeps every service, secret, config "
                    "and network), make managers holding the old state leave it, then converge every host as "
                    "`dockyard up` does, so rebuilt and returning hosts join and the inventory's managers are "
                    "managers again. A swarm that has a leader is left as it is.")
    recover.set_defaults(func=cmd_swarm_recover)
    rotate = swarm_commands.add_parser(
        "rotate", parents=[inventory, connection],
        help="rotate the swarm's join tokens, unlock key or root CA (playbooks/rotate.yml)",
        description="From the first manager that answers: --tokens makes new worker and manager join tokens (a "
                    "join with an old one is refused; joined nodes stay), --unlock-key a new autolock key (kept "
                    "in the state directory), --ca a new root CA for the swarm, waiting until every ready node "
                    "holds a certificate from it. Services keep running.")
    rotate.add_argument("--tokens", action="store_true", help="new worker and manager join tokens")
    rotate.add_argument("--unlock-key", action="store_true", help="a new unlock key (autolock)")
    rotate.add_argument("--ca", action="store_true", help="a new root CA and node certificates")
    rotate.add_argument("-C", "--check", action="store_true", help="say what would be rotated, rotate nothing")
    rotate.set_defaults(func=cmd_swarm_rotate)

    reset = commands.add_parser(
        "reset", parents=[inventory, hosts],
        help="take the hosts back to bare (playbooks/reset.yml)",
        description="Remove the stacks, the registry container, the networks and volumes dockyard made (volumes "
                    "holding data only with --purge-data) and take every node out of the swarm, workers first and "
                    "managers last. --engine also removes the Engine's packages (with --purge-data its data-root "
                    "too). --check lists what would be removed and changes nothing; otherwise dockyard asks first "
                    "unless --yes is given. `dockyard up` converges again from there.")
    reset.add_argument("-C", "--check", action="store_true", help="list what would be removed, remove nothing")
    reset.add_argument("--engine", action="store_true",
                       help="also remove Docker Engine's packages (on Kubernetes hosts containerd's)")
    reset.add_argument("--purge-data", action="store_true",
                       help="also remove volumes holding data and the registry's images (with --engine, the "
                            "Engine's data-root)")
    reset.add_argument("-y", "--yes", action="store_true", help="do not ask")
    reset.set_defaults(func=cmd_reset)

    for sub in (up, deploy, status, gc, recover, rotate, reset):
        sub.add_argument("--json", type=Path, metavar="FILE",
                         help="also write a machine-readable report of the run (per host, per task) to FILE")

    lab_parser = commands.add_parser("lab", help="throw-away lab hosts on this machine",
                                     description="Real servers on this machine for trying and testing dockyard: "
                                                 "containers running systemd and sshd on a private network.")
    lab_commands = lab_parser.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    lab_up = lab_commands.add_parser("up", parents=[verbose],
                                     help="create the lab (or converge it) and write its inventory")
    lab_up.add_argument("--hosts", type=int, default=3, help="number of hosts (default 3)")
    lab_up.add_argument("--managers", type=int,
                        help="how many hosts are swarm managers (odd; default 1, or 3 from 5 hosts up)")
    lab_up.add_argument("--release", default=lab.DEFAULT_RELEASE,
                        help=f"Debian release of the hosts: one of {', '.join(lab.RELEASES)} for all, or one per "
                             f"host, comma-separated, for a mixed lab (default {lab.DEFAULT_RELEASE})")
    lab_up.add_argument("--mirror", help="Debian mirror for the base image (default: the one apt uses here)")
    lab_up.add_argument("--orchestrator", choices=lab.ORCHESTRATORS, default="swarm",
                        help="what the hosts are for: a swarm (default) or a Kubernetes cluster (--managers control "
                             "planes, the other hosts nodes)")
    lab_up.add_argument("--fresh", action="store_true",
                        help="remove the lab's hosts first, so every host starts bare (default: keep them)")
    lab_up.set_defaults(func=cmd_lab_up)
    lab_down = lab_commands.add_parser("down", parents=[verbose],
                                       help="remove every container, network, volume and key of the lab")
    lab_down.set_defaults(func=cmd_lab_down)
    lab_status = lab_commands.add_parser("status", parents=[verbose],
                                         help="show the lab's hosts and missing kernel features")
    lab_status.set_defaults(func=cmd_lab_status)
    lab_fetch = lab_commands.add_parser("fetch", parents=[verbose],
                                        help="fetch a page from every lab host (the sample stack's by default)",
                                        description="HTTP GET http://HOST:PORT/PATH on every lab host and print "
                                                    "each answer. Exit 0 when every host answers 200, else 1.")
    lab_fetch.add_argument("--port", type=int, default=8080, help="port (default 8080, the sample stack's)")
    lab_fetch.add_argument("--path", default="/", help="path (default /)")
    lab_fetch.set_defaults(func=cmd_lab_fetch)
    for sub in (lab_up, lab_down, lab_status, lab_fetch):
        sub.add_argument("--name", default="lab", help="lab name, to keep several labs apart (default: lab)")
    lab_up.add_argument("--inventory-dir", type=Path, default=Path("inventory/lab"),
                        help="where hosts.yml and the SSH key go (default: inventory/lab)")
    return parser


def preflight(args, limit: str | None = None) -> tuple[int, int, int]:
    """Run `dockyard check`, print its problems; (exit code for them, or EXIT_OK, hosts targeted, of them
    unreachable)."""
    check_yaml_sources(args.inventory)
    problems, targeted = check.check(args.inventory, limit, args.vault,
                                     connection={"user": args.user, "private_key": args.private_key},
                                     extra_vars=getattr(args, "extra_vars", ()))
    for problem in problems:
        print(f"dockyard: check: {problem}", file=sys.stderr)
    if not problems:
        return EXIT_OK, targeted, 0
    if all(p.unreachable for p in problems):
        return EXIT_UNREACHABLE, targeted, sum(len(p.where.split(", ")) for p in problems)
    return EXIT_USAGE, targeted, 0


def cmd_check(args) -> int:
    code, _, _ = preflight(args, args.limit)
    if code == EXIT_OK:
        print(f"{args.inventory}: groups, variables, addresses, SSH and python3 all good")
    return code


def cmd_up(args) -> int:
    code, targeted, unreachable = preflight(args, args.limit)
    if code == EXIT_UNREACHABLE and unreachable < targeted:
        # A dead host does not hold the others back: they converge, the run reports it and exits 3.
        print(f"dockyard: {unreachable} of {targeted} hosts cannot be reached; converging the other "
              f"{targeted - unreachable} (the run exits {EXIT_UNREACHABLE})", file=sys.stderr)
    elif code != EXIT_OK:  # nothing is touched while the inventory has problems
        return code
    return finish(run("site.yml", args, targeted, extra_vars=args.extra_vars), "site.yml", args)


def cmd_swarm_recover(args) -> int:
    code, targeted, unreachable = preflight(args)
    if code == EXIT_USAGE or unreachable == targeted:
        return code  # lost hosts are expected here; bad input or no host at all is not
    return finish(run("recover.yml", args, targeted, extra_vars=args.extra_vars), "recover.yml", args)


def cmd_swarm_rotate(args) -> int:
    rotate = [name for name, wanted in (("tokens", args.tokens), ("unlock_key", args.unlock_key), ("ca", args.ca))
              if wanted]
    if not rotate:
        raise UsageError("say what to rotate: --tokens, --unlock-key and/or --ca")
    check_yaml_sources(args.inventory)
    return finish(run("rotate.yml", args, extra_vars=[json.dumps({"swarm_rotate": rotate})]), "rotate.yml", args)


def cmd_reset(args) -> int:
    code, targeted, unreachable = preflight(args, args.limit)
    if code == EXIT_USAGE or unreachable == targeted:
        return code
    if not (args.check or args.yes):
        what = "stacks, registry, dockyard's networks and volumes, swarm and Kubernetes membership" + (
            ", Engine and containerd packages" if args.engine else "") + (", data" if args.purge_data else "")
        if not sys.stdin.isatty():
            raise UsageError(f"dockyard reset removes {what} on {targeted} hosts; give --yes to confirm, or "
                             "--check to see what would be removed")
        if input(f"Remove {what} on {targeted} hosts of {args.inventory}? Type yes: ").strip() != "yes":
            print("dockyard: nothing was changed", file=sys.stderr)
            return EXIT_USAGE
    settings = {"dockyard_reset_engine": args.engine, "dockyard_reset_purge_data": args.purge_data}
    return finish(run("reset.yml", args, targeted, diff=args.check, extra_vars=[json.dumps(settings)]),
                  "reset.yml", args)


def forks_for(hosts: int) -> int | None:
    """Enough forks for every host at once (the shipped ansible.cfg has 20), unless the user sets forks."""
    if "ANSIBLE_FORKS" in os.environ or "ANSIBLE_CONFIG" in os.environ or hosts <= 20:
        return None
    return min(hosts, 100)


def run(playbook: str, args, targeted: int = 0, **options):
    """Run a playbook with the options of the command line that the command has (--limit, --check, -u, ...);
    ``options`` set the others, or override them."""
    for name in ("limit", "tags", "skip_tags", "check", "diff", "user", "private_key"):
        options.setdefault(name, getattr(args, name, None))
    options.setdefault("forks", getattr(args, "forks", None) or forks_for(targeted))
    result = run_playbook(playbook, args.inventory, vault=args.vault, verbosity=args.verbose, **options)
    if not result.stats:
        raise UsageError(f"{args.inventory}: no host to run {playbook} on" + (
            f" among those --limit {options['limit']} selects" if options["limit"] else ""))
    return result


def finish(result, playbook: str, args) -> int:
    if args.json:
        report.write(result, playbook, args.inventory, args.json)
    return result.exit_code


def cmd_deploy(args) -> int:
    check_yaml_sources(args.inventory)
    stack_file = args.stack_file.resolve()
    if not stack_file.is_file():
        raise UsageError(f"stack file {args.stack_file} does not exist")
    compose = load_yaml(stack_file, "compose file")  # its shape here; its keys in the run (they need its variables)
    services = compose.get("services") if isinstance(compose, dict) else None
    if not isinstance(services, dict) or not services or not all(isinstance(v, dict) for v in services.values()):
        raise UsageError(f"{args.stack_file}: a compose file is a mapping whose services: maps each service's name "
                         "to its keys")
    stack = {"name": args.name or stack_file.parent.name, "compose_file": str(stack_file),
             "state": "absent" if args.absent else "present", "to": args.to}
    return finish(run("deploy.yml", args, extra_vars=[json.dumps({"stacks": [stack]}), *args.extra_vars]),
                  "deploy.yml", args)


def cmd_registry_gc(args) -> int:
    check_yaml_sources(args.inventory)
    return finish(run("registry_gc.yml", args), "registry_gc.yml", args)


def run_reading(playbook: str, args, variable: str, empty):
    """Run a playbook that only reads and writes what it found to a JSON file on the control machine (its path
    in ``variable``); print each host's failure; return the run's result and what was found (else ``empty``)."""
    check_yaml_sources(args.inventory)
    with tempfile.TemporaryDirectory() as tmp:
        found_file = Path(tmp) / "found.json"
        result = run(playbook, args, stream=io.StringIO(), extra_vars=[json.dumps({variable: str(found_file)})])
        found = json.loads(found_file.read_text()) if found_file.exists() else empty
    for failure in result.failures:
        print(f"{failure['host']}: {failure['event']}: {failure.get('msg', '')}".rstrip(), file=sys.stderr)
    return result, found


def cmd_status(args) -> int:
    result, state = run_reading("status.yml", args, "dockyard_status_file", {"hosts": {}, "services": []})
    finish(result, "status.yml", args)
    kube_hosts = set(state.get("kube_hosts", []))
    rows = []
    for host in sorted(set(result.stats) - kube_hosts):
        engine = state["hosts"].get(host)
        swarm = (engine or {}).get("swarm") or {}
        rows.append({
            "host": host,
            "reachable": "yes" if engine is not None else "NO",
            "engine": (engine or {}).get("server_version") or ("not running" if engine else "-"),
            "swarm": swarm.get("state") or "-",
            "role": ("manager" if swarm.get("is_manager") else "worker") if swarm.get("state") == "active" else "-",
            "containers": (engine or {}).get("containers_running", "-"),
        })
    print_table(rows)
    if state["services"]:
        print()
        print_table([{"stack": s["stack"] or "-", "service": s["name"], "mode": s["mode"],
                      "replicas": f"{s['running']}/{s['desired']}", "image": s["image"]} for s in state["services"]])
    healthy = all(row["engine"] not in ("not running", "-") for row in rows) and all(
        s["running"] == s["desired"] for s in state["services"])
    reachable = all(row["reachable"] == "yes" for row in rows)
    if kube_hosts & set(result.stats):
        if rows:
            print()
        kube_reachable, kube_healthy = print_kubernetes(state, sorted(kube_hosts & set(result.stats)))
        reachable, healthy = reachable and kube_reachable, healthy and kube_healthy
    if not reachable:
        return EXIT_UNREACHABLE
    return EXIT_OK if healthy else EXIT_FAILED


# Where a workload kind keeps its ready and desired counts: ready in its status, desired in its spec or status.
READY = {"Deployment": ("readyReplicas", "spec", "replicas"), "StatefulSet": ("readyReplicas", "spec", "replicas"),
         "DaemonSet": ("numberReady", "status", "desiredNumberScheduled")}


def ready_of(item) -> tuple[int, int]:
    ready, part, desired = READY[item["kind"]]
    return item["status"].get(ready, 0), item[part].get(desired, 0)


def print_kubernetes(state, hosts: list[str]) -> tuple[bool, bool]:
    """The Kubernetes hosts as their kubelets and the API server see them, then the cluster's workloads; returns
    (every host reachable, every kubelet running and its node Ready and every workload ready).
    ``state["kubernetes"]``: the API server's /version and its nodes and workloads, one JSON document per line, read
    on a control plane (none if none answered)."""
    version, listed = (json.loads(line) for line in state["kubernetes"]) if len(state["kubernetes"]) == 2 else ({}, {})
    items = listed.get("items", [])
    nodes = {item["metadata"]["name"]: item for item in items if item["kind"] == "Node"}
    rows = []
    for host in hosts:
        node = nodes.get(host, {}).get("status", {})
        ready = next((c["status"] for c in node.get("conditions", []) if c["type"] == "Ready"), None)
        rows.append({"host": host, "reachable": "yes" if host in state["kubelets"] else "NO",
                     "kubelet": state["kubelets"].get(host, "-"),
                     "role": "control-plane" if host in state["control_planes"] else "node",
                     "ready": {"True": "yes", None: "-"}.get(ready, "NO"),
                     "kubelet version": node.get("nodeInfo", {}).get("kubeletVersion", "-")})
    print(f"Kubernetes {version['gitVersion']}" if version else "Kubernetes: no control plane's API server answered")
    print_table(rows)
    workloads = [{"namespace": item["metadata"]["namespace"], "kind": item["kind"], "name": item["metadata"]["name"],
                  "ready": ready_of(item)} for item in items if item["kind"] in READY]
    if workloads:
        print()
        print_table([{**w, "ready": "{}/{}".format(*w["ready"])} for w in workloads])
    return (all(row["reachable"] == "yes" for row in rows),
            bool(version) and all(row["ready"] == "yes" and row["kubelet"] == "active" for row in rows)
            and all(ready == desired for ready, desired in (w["ready"] for w in workloads)))


def cmd_audit(args) -> int:
    result, checks = run_reading("audit.yml", args, "dockyard_audit_file", {})
    unread = sorted(set(result.stats) - set(checks))
    rows: dict[tuple, list[str]] = {}  # a check that ends the same on several hosts is one row naming them all
    for host in sorted(checks):
        for c in checks[host]:
            rows.setdefault((c["id"], c["status"], c["title"], c["reason"]), []).append(host)
    print_table([{"cis": cis, "status": status, "hosts": ",".join(hosts), "check": title, "reason": reason}
                 for (cis, status, title, reason), hosts in sorted(
                     rows.items(), key=lambda item: tuple(int(n) for n in item[0][0].split(".")))])
    print()
    print_table([{"host": host, **{status: sum(c["status"] == status for c in checks[host])
                                   for status in ("PASS", "WARN", "INFO")}} for host in sorted(checks)]
                + [{"host": host, "PASS": "-", "WARN": "-", "INFO": "not read"} for host in unread])
    if args.json:
        report.write_private(args.json, json.dumps({"benchmark": "CIS Docker Benchmark v1.6.0", "hosts": checks,
                                                    "unread": unread}, indent=2) + "\n")
    if unread:
        return EXIT_UNREACHABLE
    warned = any(c["status"] == "WARN" for host in checks.values() for c in host)
    return EXIT_FAILED if args.strict and warned else EXIT_OK


def cmd_lab_up(args) -> int:
    managers = args.managers if args.managers is not None else lab.default_managers(args.hosts)
    spec = lab.LabSpec(args.name, args.hosts, managers, args.inventory_dir, tuple(args.release.split(",")),
                       args.orchestrator)
    hosts = lab.up(spec, args.mirror or lab.apt_mirror(), run_playbook, fresh=args.fresh)
    print(f"lab {spec.name}: {len(hosts)} hosts up; inventory {spec.inventory_path}")
    print_table([{"host": h.name, "address": h.address, "release": h.release, "container": h.container}
                 for h in hosts])
    print(f"try: ansible -i {spec.inventory_path} all -m ping")
    return 0


def require_control_engine(doing: str) -> None:
    if not lab.engine_answers():
        raise DockyardError(f"Docker Engine on this machine does not answer, so the lab cannot be {doing}; "
                            "`dockyard lab up` installs and starts it.")


def cmd_lab_down(args) -> int:
    require_control_engine("removed")
    lab.down(args.name)
    return 0


def cmd_lab_status(args) -> int:
    require_control_engine("shown")
    rows = lab.status(args.name)
    if not rows:
        print(f"lab {args.name}: no hosts (create them with `dockyard lab up --name {args.name}`)")
    else:
        print_table(rows)
    for feature, state in lab.kernel_features().items():
        print(f"kernel {feature}: {state}")
    healthy = rows and all(r["systemd"] == "running" and r["ssh"] == "answers" for r in rows)
    return EXIT_OK if healthy else EXIT_FAILED


def cmd_lab_fetch(args) -> int:
    require_control_engine("read")
    rows = lab.fetch(args.name, args.port, args.path)
    if not rows:
        raise UsageError(f"lab {args.name} has no hosts (create them with `dockyard lab up --name {args.name}`)")
    print_table([{k: v for k, v in row.items() if k != "ok"} for row in rows])
    return EXIT_OK if all(row["ok"] for row in rows) else EXIT_FAILED


def print_table(rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries(args.verbose)
    args.vault = vault.Vault(args)
    try:
        return args.func(args)
    except DockyardError as exc:
        print(f"dockyard: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dockyard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dockyard status | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        args.vault.close()


if __name__ == "__main__":
    sys.exit(main())
