"""Run a collection playbook as an argv list and follow it through structured events."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.collection import ansible_env, playbook_path, state_root
from dockyard.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, DockyardError
from dockyard.progress import make_progress, task_label
from dockyard.quiet import ansible_argv

STOP_GRACE = 10.0  # seconds ansible-playbook gets to stop after SIGTERM before its process group is killed


@dataclass
class RunResult:
    """What a playbook run did, per host, as its events told it."""

    returncode: int
    log_path: Path
    duration: float
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)  # every task result event, in order
    task_starts: list[dict] = field(default_factory=list)  # every task_start event (with the controller's CPU)
    cpu: float = 0.0  # controller CPU seconds of the whole run, as Ansible counted it at the end
    started: str = ""  # UTC, ISO 8601

    @property
    def exit_code(self) -> int:
        if any(s.get("unreachable") for s in self.stats.values()):
            return EXIT_UNREACHABLE
        if any(s.get("failures") for s in self.stats.values()) or self.returncode:
            return EXIT_FAILED
        return EXIT_OK


def state_dir(name: str) -> Path:
    """A directory of the state directory (collection.state_root()), readable by its owner only."""
    base = state_root()
    path = base / name
    for directory in (base, path):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)
    return path


def log_dir() -> Path:
    return state_dir("logs")


def private_file(path: Path, text: str) -> Path:
    """Write text to a new file only its owner can read (created so, never widened and narrowed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def extra_vars_files(extra_vars, directory: Path) -> list[str]:
    """Each -e value as Ansible gets it: ``@file`` as it is, anything else in a file of its own that only the
    owner can read, so that no value shows in the process list (``ps``) or the run log. ``key=value`` pairs are
    parsed as Ansible parses them on its command line; YAML and JSON go as they are."""
    from ansible.parsing.splitter import parse_kv

    files = []
    for index, item in enumerate(extra_vars):
        if item.startswith("@"):
            files.append(item)
            continue
        text = item if item.lstrip().startswith(("{", "[")) or "\n" in item else json.dumps(parse_kv(item))
        files.append("@" + str(private_file(directory / f"extra-vars-{index}.yml", text)))
    return files


def playbook_argv(playbook: str, inventory: str, *, limit=None, tags=None, skip_tags=None, check=False, diff=False,
                  extra_vars=(), connection=None, forks=None, vault=None, user=None, private_key=None,
                  verbosity=0) -> list[str]:
    argv = [*ansible_argv(verbosity), "playbook", "-i", inventory, str(playbook_path(playbook))]
    if verbosity:
        argv.append("-" + "v" * verbosity)
    if vault:
        argv += vault.argv()
    if limit:
        argv += ["--limit", limit]
    if tags:
        argv += ["--tags", tags]
    if skip_tags:
        argv += ["--skip-tags", skip_tags]
    if user:
        argv += ["--user", user]
    if private_key:
        argv += ["--private-key", private_key]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if connection:
        argv += ["--connection", connection]
    if forks:
        argv += ["--forks", str(forks)]
    for item in extra_vars:
        argv += ["-e", item]
    return argv


def run_playbook(playbook: str, inventory: str, *, title: str | None = None, stream=None, **options) -> RunResult:
    """Run ``playbooks/<playbook>`` and show progress; Ansible's own output goes to a log file."""
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=state_dir("runs")))
    try:
        options["extra_vars"] = extra_vars_files(options.get("extra_vars", ()), run_dir)
        return _run(playbook, inventory, title, stream, options)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _run(playbook, inventory, title, stream, options) -> RunResult:
    argv = playbook_argv(playbook, inventory, **options)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = log_dir() / f"{stamp}-{Path(playbook).stem}.log"
    read_fd, write_fd = os.pipe()
    env = ansible_env()
    env["DOCKYARD_EVENTS_FD"] = str(write_fd)
    env["DOCKYARD_STATE_DIR"] = str(state_dir("keys").parent)  # where roles keep keys between runs (0700)
    progress = make_progress(stream or sys.stdout, title or f"{playbook} on {inventory}")
    started = time.monotonic()
    with open(private_file(log_path, ""), "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(argv) + "\n")
        log.flush()
        try:
            # Its own process group, so that stopping the run stops every ansible process it started.
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, pass_fds=(write_fd,), start_new_session=True)
        finally:
            os.close(write_fd)
        result = RunResult(returncode=0, log_path=log_path, duration=0.0,
                           started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        stop = _Stopper(proc)
        where = _Where()
        try:
            with stop:
                for line in _lines(read_fd, on_idle=lambda: (progress.tick(), stop.escalate())):
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    where.follow(event)
                    if event["event"] == "stats":
                        result.stats, result.cpu = event["hosts"], event.get("cpu", 0.0)
                    elif event["event"] == "task_start":
                        result.task_starts.append(event)
                    elif "host" in event:
                        result.results.append(event)
                        if event["event"] in ("failed", "unreachable") and not event.get("ignored"):
                            result.failures.append(event)
                    progress.handle(event)
        except BaseException:
            stop.kill()  # the runner itself failed: its run must not go on unwatched
            raise
        finally:
            os.close(read_fd)
        if stop.signum:
            stop.reap()
        result.returncode = proc.wait()
    if stop.signum:
        raise DockyardError(f"interrupted by {signal.Signals(stop.signum).name} {where.describe()}; every ansible "
                            f"process of the run was stopped. Run the same command again to converge (log: "
                            f"{log_path})", 128 + stop.signum)
    result.duration = time.monotonic() - started
    progress.finish(result)
    if not result.stats and result.returncode:
        # Ansible stopped before running anything: a syntax error, a bad inventory or option.
        raise DockyardError(
            f"ansible-playbook {playbook} stopped before it ran (exit {result.returncode}): "
            f"{_last_error(log_path)} (full log: {log_path})",
            EXIT_USAGE,
        )
    return result


class _Stopper:
    """While a run goes on, Ctrl-C and SIGTERM stop its whole process group: SIGTERM first, SIGKILL after
    STOP_GRACE seconds, so that no ansible process outlives the runner."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.signum = 0
        self.deadline = 0.0
        self.saved: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.saved[signum] = signal.signal(signum, self.handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)

    def handle(self, signum, _frame):
        if not self.signum:
            self.signum, self.deadline = signum, time.monotonic() + STOP_GRACE
            self.kill(signal.SIGTERM)

    def escalate(self):
        if self.signum and time.monotonic() > self.deadline:
            self.kill()

    def reap(self):
        """After a stop, nothing of the run's process group is left behind."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(max(0.0, self.deadline - time.monotonic()))
        self.kill()

    def kill(self, signum=signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)


class _Where:
    """Which task each host was in, from the events, to say where a stopped run stopped."""

    def __init__(self):
        self.task = ""
        self.hosts: list[str] = []
        self.done: set[str] = set()
        self.gone: set[str] = set()

    def follow(self, event: dict) -> None:
        kind = event["event"]
        if kind == "play_start":
            self.hosts, self.task, self.done = list(event["hosts"]), "", set()
        elif kind == "task_start":
            self.task, self.done = task_label(event), set()
        elif "host" in event:
            self.done.add(event["host"])
            if kind in ("failed", "unreachable") and not event.get("ignored"):
                self.gone.add(event["host"])

    def describe(self) -> str:
        if not self.task:
            return "before the first task"
        busy = [h for h in self.hosts if h not in self.done and h not in self.gone]
        return f"during '{self.task}'" + (f" on {', '.join(busy)}" if busy else "")


def _lines(fd: int, on_idle, idle_seconds: float = 1.0):
    """Lines from the events pipe as they come; ``on_idle`` runs each second nothing arrives
    (so the live view's clock keeps moving through a long task)."""
    pending = b""
    while True:
        ready, _, _ = select.select([fd], [], [], idle_seconds)
        if not ready:
            on_idle()
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace")


def _last_error(log_path: Path) -> str:
    lines = [line.strip() for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1]
