"""How fast dockyard takes bare hosts to a running stack, against the physical limit on the same hosts.

For each host count: a fresh lab; `site.yml` from bare hosts to the sample stack serving HTTP on every node
(with a per-phase breakdown from the run's own events); the same run again (no-op); one service's replicas
changed; then a fresh lab again and the same work with no Ansible at all - shell commands over one SSH
connection per host, in parallel (the floor). Prints a table and writes benchmarks/results/<stamp>.json.

    python benchmarks/bench.py --hosts 3 10
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import ansible
import yaml

from dockyard import lab
from dockyard.collection import SHIPPED_CONFIG, collection_root, state_root
from dockyard.runner import run_playbook

ROOT = collection_root()
STACK = ROOT / "examples" / "stacks" / "web"
RESULTS = ROOT / "benchmarks" / "results"
# Phases of site.yml, by the role of each task.
PHASES = ("preflight", "engine", "storage", "registry", "images", "swarm", "networks", "stack")


def quiet(_line):
    pass


def lab_fresh(name: str, count: int) -> tuple[lab.LabSpec, list[lab.LabHost]]:
    """A new lab of bare hosts (whatever a lab of that name had is removed first)."""
    spec = lab.LabSpec(name, count, lab.default_managers(count), Path(tempfile.mkdtemp(prefix=f"{name}-")))
    return spec, lab.up(spec, lab.apt_mirror(), run_playbook, out=quiet, fresh=True)


def http_everywhere(addresses: list[str], timeout: float = 120) -> float:
    """Seconds until every host answers on 8080 with the sample page."""
    started = time.monotonic()
    pending = list(addresses)
    while pending:
        pending = [a for a in pending if "dockyard stack" not in subprocess.run(
            ["curl", "-s", "-m", "2", f"http://{a}:8080/"], capture_output=True, text=True, check=False).stdout]
        if pending and time.monotonic() - started > timeout:
            raise RuntimeError(f"no HTTP answer from {', '.join(pending)} within {timeout}s")
        if pending:
            time.sleep(0.2)
    return time.monotonic() - started


def phases(result) -> dict[str, float]:
    """Wall time of each phase: the results come in order, and each stretch of one role's tasks counts from its
    first task's start to its last task's end. A task outside a role (fact gathering, an include) belongs to the
    stretch it is in; the first ones are the preflight checks."""
    totals: dict[str, float] = {}
    phase, start, end = "preflight", None, None
    for event in [*result.results, {"role": "end", "time": 0, "duration": 0}]:
        role = event.get("role") or phase
        if role != phase and start is not None:
            totals[phase] = totals.get(phase, 0) + end - start
            start = None
        phase = role
        if start is None:
            start = event["time"] - event["duration"]
        end = event["time"]
    return {p: round(totals[p], 1) for p in PHASES if p in totals}


def profile(result) -> dict:
    """Where the control machine's time went, per task and per phase: each task's wall time and controller CPU run
    from its start to the next task's start (the linear strategy runs one task at a time on all hosts)."""
    starts = result.task_starts
    # The last task ends with the run: its CPU is counted to the end, its wall time is not known (taken as none).
    ends = [*starts[1:], {"cpu": result.cpu, "time": starts[-1]["time"]}] if starts else []
    hosts_per_task: dict[str, int] = {}
    for event in result.results:
        hosts_per_task[event["uuid"]] = hosts_per_task.get(event["uuid"], 0) + 1
    tasks: dict[tuple, dict] = {}
    phase_cpu: dict[str, float] = {}
    phase = "preflight"
    for start, end in zip(starts, ends, strict=True):
        phase = start.get("role") or phase
        key = (start.get("role") or "", start["task"])
        row = tasks.setdefault(key, {"role": key[0], "task": key[1], "cpu": 0.0, "wall": 0.0, "host_tasks": 0})
        row["cpu"] += end["cpu"] - start["cpu"]
        row["wall"] += max(end["time"] - start["time"], 0)
        row["host_tasks"] += hosts_per_task.get(start["uuid"], 0)
        phase_cpu[phase] = phase_cpu.get(phase, 0) + end["cpu"] - start["cpu"]
    top = sorted(tasks.values(), key=lambda r: -r["cpu"])
    host_tasks = len(result.results)
    return {"host_tasks": host_tasks, "tasks": len(starts),
            # Reading the playbooks, roles and inventory before the first task.
            "startup_cpu": round(starts[0]["cpu"], 1) if starts else 0,
            "cpu_per_host_task": round(result.cpu / host_tasks, 3) if host_tasks else 0,
            "phase_cpu": {p: round(phase_cpu[p], 1) for p in PHASES if p in phase_cpu},
            "top_tasks": [{**r, "cpu": round(r["cpu"], 2), "wall": round(r["wall"], 2)} for r in top[:12]]}


def dockyard_runs(inventory: Path, addresses: list[str], work: Path) -> dict:
    stacks = {"stacks": [{"name": "web", "compose_file": str(STACK / "compose.yml")}]}
    common = ["engine_source=bundle", json.dumps(stacks)]
    out: dict = {}

    def timed(name, extra):
        started, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
        result = run_playbook("site.yml", str(inventory), extra_vars=extra, stream=io.StringIO())
        if result.exit_code:
            raise RuntimeError(f"{name}: site.yml failed, see {result.log_path}")
        seconds, used = time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
        serving = http_everywhere(addresses)
        out[name] = {"seconds": round(seconds, 1), "http_wait": round(serving, 1),
                     # The whole ansible-playbook process tree, as the kernel counted it when it ended.
                     "controller_cpu": round(used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime, 1),
                     "changed": sum(s["changed"] for s in result.stats.values()), "phases": phases(result),
                     "profile": profile(result), "log": str(result.log_path)}

    timed("bare_to_stack", common)
    # Twice: the first may still share the CPUs with the stack's containers starting on every host.
    timed("noop", common)
    first = out.pop("noop")
    timed("noop", common)
    if first["seconds"] < out["noop"]["seconds"]:
        out["noop"] = first
    changed = work / "web"
    shutil.copytree(STACK, changed)
    compose = yaml.safe_load((changed / "compose.yml").read_text())
    compose["services"]["api"]["deploy"]["replicas"] = 1
    (changed / "compose.yml").write_text(yaml.safe_dump(compose))
    timed("one_change", ["engine_source=bundle",
                         json.dumps({"stacks": [{"name": "web", "compose_file": str(changed / "compose.yml")}]})])
    return out


# -- the physical limit ---------------------------------------------------------------------------------------

def ssh(host: lab.LabHost, key: Path, control: Path, command: str, stdin: bytes | None = None) -> bytes:
    """One command over the host's one SSH master connection; its stdout."""
    argv = ["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=yes",  # the lab's known_hosts is beside its key
            "-o", f"UserKnownHostsFile={key.with_name('known_hosts')}", "-o", "LogLevel=ERROR",
            "-o", "ControlMaster=auto", "-o", f"ControlPath={control}/%h",
            "-o", "ControlPersist=60", f"root@{host.address}", command]
    proc = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{host.name}: {command[:60]}...: {proc.stderr.decode(errors='replace')[-400:]}")
    return proc.stdout


def physical_limit(spec: lab.LabSpec, hosts: list[lab.LabHost], bundle: Path, work: Path) -> dict:
    """The same work as site.yml with the offline bundle, as raw commands: the floor."""
    control = Path(tempfile.mkdtemp(prefix="ctl-", dir="/tmp"))
    key = spec.key_path
    managers, workers = hosts[: spec.managers], hosts[spec.managers:]
    steps: dict[str, float] = {}
    started = time.monotonic()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts))

    def each(func, targets):
        list(pool.map(func, targets))

    def step(name, func, targets):
        begin = time.monotonic()
        each(func, targets)
        steps[name] = round(time.monotonic() - begin, 1)

    archive = bundle.read_bytes()
    name = bundle.name.removesuffix(".tar")
    apt = (f"-o Dir::Etc::SourceList=/var/cache/dockyard/{name}/bundle.list -o Dir::Etc::SourceParts=- "
           "-o APT::Get::List-Cleanup=0")
    step("engine", lambda h: ssh(h, key, control,
                                 "mkdir -p /var/cache/dockyard && tar -x -C /var/cache/dockyard && "
                                 f"apt-get {apt} update -q && DEBIAN_FRONTEND=noninteractive apt-get {apt} install "
                                 "-y -q --no-install-recommends docker.io && docker info >/dev/null", archive), hosts)

    context = subprocess.run(["tar", "-c", "-C", str(lab.image_contexts(work / "images")["busybox"]), "."],
                             capture_output=True, check=True).stdout
    stack = work / "limit-web"  # the CLI of Docker 20.10 wants a compose `version`
    shutil.copytree(STACK, stack)
    compose = yaml.safe_load((STACK / "compose.yml").read_text())
    (stack / "compose.yml").write_text(yaml.safe_dump({"version": "3.8", **compose}))
    web = subprocess.run(["tar", "-c", "-C", str(stack), "."], capture_output=True, check=True).stdout
    begin = time.monotonic()
    ssh(hosts[0], key, control, "docker build -q -t dockyard/busybox:1 -", context)
    ssh(hosts[0], key, control, "docker build -q -t dockyard/web:1 -", web)
    image = ssh(hosts[0], key, control, "docker save dockyard/web:1")
    each(lambda h: ssh(h, key, control, "docker load -q", image), hosts[1:])
    steps["images"] = round(time.monotonic() - begin, 1)

    begin = time.monotonic()
    leader = hosts[0]
    ssh(leader, key, control, f"docker swarm init --advertise-addr {leader.address} >/dev/null")
    tokens = {role: ssh(leader, key, control, f"docker swarm join-token -q {role}").decode().strip()
              for role in ("manager", "worker")}
    join = "docker swarm join --token {} " + f"{leader.address}:2377 >/dev/null"
    each(lambda h: ssh(h, key, control, join.format(tokens["manager"])), managers[1:])
    each(lambda h: ssh(h, key, control, join.format(tokens["worker"])), workers)
    steps["swarm"] = round(time.monotonic() - begin, 1)

    begin = time.monotonic()
    ssh(leader, key, control, "mkdir -p /tmp/web && tar -x -C /tmp/web", web)
    ssh(leader, key, control, "cd /tmp/web && DOCKYARD_REGISTRY=dockyard docker stack deploy -c compose.yml web")
    http_everywhere([h.address for h in hosts])
    steps["stack"] = round(time.monotonic() - begin, 1)
    pool.shutdown()
    subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={control}/%h", "x"], capture_output=True, check=False)
    return {"seconds": round(time.monotonic() - started, 1), "phases": steps}


def bench(count: int, work: Path) -> dict:
    name = f"bench{count}"
    try:
        spec, hosts = lab_fresh(name, count)
        runs = dockyard_runs(spec.inventory_path, [h.address for h in hosts], work)
        # The bundle the hosts installed from (the state directory may hold bundles of other releases too).
        (used,) = subprocess.run(["docker", "exec", hosts[0].container, "ls", "/var/cache/dockyard"],
                                 capture_output=True, text=True, check=True).stdout.split()
        bundle = state_root() / "bundles" / f"{used}.tar"
        spec, hosts = lab_fresh(name, count)
        runs["physical_limit"] = physical_limit(spec, hosts, bundle, work)
    finally:
        lab.down(name, out=quiet)
    runs["ratio_bare_to_limit"] = round(runs["bare_to_stack"]["seconds"] / runs["physical_limit"]["seconds"], 2)
    return runs


def table(results: dict) -> str:
    header = ("hosts", "bare->stack", "limit", "ratio", "no-op", "1 change")
    lines = ["{:>5}  {:>11}  {:>6}  {:>5}  {:>6}  {:>8}  phases (s)".format(*header)]
    for count, r in results.items():
        parts = " ".join(f"{k}={v}" for k, v in r["bare_to_stack"]["phases"].items())
        lines.append(f"{count:>5}  {r['bare_to_stack']['seconds']:>10}s  {r['physical_limit']['seconds']:>5}s  "
                     f"{r['ratio_bare_to_limit']:>5}  {r['noop']['seconds']:>5}s  {r['one_change']['seconds']:>7}s  "
                     f"{parts}")
        limit = " ".join(f"{k}={v}" for k, v in r["physical_limit"]["phases"].items())
        lines.append(f"{'':>5}  {'':>11}  limit: {limit}")
        for run in ("bare_to_stack", "noop", "one_change"):
            prof = r[run]["profile"]
            cpu = " ".join(f"{k}={v}" for k, v in {"startup": prof["startup_cpu"], **prof["phase_cpu"]}.items())
            lines.append(f"{'':>5}  {'':>11}  {run}: controller CPU {r[run]['controller_cpu']}s over "
                         f"{prof['host_tasks']} host-tasks ({prof['tasks']} tasks), "
                         f"{prof['cpu_per_host_task']}s per host-task; CPU by phase: {cpu}")
        lines.append(f"{'':>5}  {'':>11}  no-op's costliest tasks (controller CPU s / wall s / host-tasks):")
        lines.extend(f"{'':>5}  {'':>13}{t['cpu']:>6} {t['wall']:>6} {t['host_tasks']:>4}  "
                     f"{t['role'] + ' : ' if t['role'] else ''}{t['task'][:70]}"
                     for t in r["noop"]["profile"]["top_tasks"][:8])
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, nargs="+", default=[3, 10], help="host counts (default: 3 10)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON result")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for count in args.hosts:
            results[count] = bench(count, Path(work) / str(count))
    record = {"schema": "dockyard.bench/1", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "ansible_core": ansible.__version__, "python": platform.python_version(),
              "cpus": len(__import__("os").sched_getaffinity(0)), "engine_source": "bundle",
              "settings": SHIPPED_CONFIG.read_text(), "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(table(results))
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
