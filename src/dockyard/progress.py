"""Progress for people: a live line per host on a terminal, plain lines elsewhere, a table at the end."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_STATUS_ORDER = ("ok", "changed", "failed", "unreachable", "skipped")


@dataclass
class HostLine:
    task: str = "waiting"
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    busy: float = 0.0  # seconds spent in tasks on this host


def make_progress(stream, title: str):
    interactive = stream.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")
    return (LiveProgress if interactive else PlainProgress)(stream, title)


def task_label(event: dict) -> str:
    return f"{event['role']} : {event['task']}" if event.get("role") else event["task"]


class PlainProgress:
    """One line per host result: readable in CI logs and pipes."""

    def __init__(self, stream, title: str):
        self.stream = stream
        self.hosts: dict[str, HostLine] = {}
        self.task_times: dict[str, float] = {}
        self.started = time.monotonic()
        self.write(f"dockyard: {title}")

    def write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def handle(self, event: dict) -> None:
        kind = event["event"]
        if kind == "play_start":
            for host in event["hosts"]:
                self.hosts.setdefault(host, HostLine())
            self.on_play(event)
        elif kind == "task_start":
            self.on_task(event)
        elif kind in _STATUS_ORDER:
            line = self.hosts.setdefault(event["host"], HostLine())
            setattr(line, kind, getattr(line, kind) + 1)
            line.busy += event["duration"]
            label = line.task = task_label(event)
            self.task_times[label] = max(self.task_times.get(label, 0.0), event["duration"])
            self.on_result(event)

    def tick(self) -> None:
        """A second passed without events; plain output has nothing to redraw."""

    def on_play(self, event: dict) -> None:
        self.write(f"PLAY {event['play']} ({len(event['hosts'])} hosts)")

    def on_task(self, event: dict) -> None:
        pass

    def on_result(self, event: dict) -> None:
        if event["event"] == "skipped":
            return
        self.write(f"  {event['host']:<16} {event['event']:<11} {task_label(event)} ({event['duration']:.1f}s)")
        self.show_failure(event)
        self.show_warnings(event)
        self.show_diff(event)

    def show_warnings(self, event: dict) -> None:
        """What a module warned about (a volume kept, ...), under the host: operators must see it."""
        for warning in event.get("warnings", []):
            self.write(f"  {event['host']}: WARNING: {str(warning).strip()}")

    def show_diff(self, event: dict) -> None:
        """--diff: what a changed task changed (or would change), under the host and task."""
        if event.get("diff", "").strip():
            self.write(f"  {event['host']}: DIFF: {task_label(event)}")
            self.write("    " + event["diff"].rstrip().replace("\n", "\n    "))

    def show_failure(self, event: dict) -> None:
        if event["event"] not in ("failed", "unreachable"):
            return
        suffix = " (ignored)" if event.get("ignored") else ""
        self.write(f"  {event['host']}: {event['event'].upper()}{suffix}: {task_label(event)}")
        for key in ("msg", "cmd", "rc", "stderr", "stdout"):
            if key in event:
                text = str(event[key]).strip().replace("\n", "\n      ")
                self.write(f"    {key}: {text}")

    def finish(self, result) -> None:
        self.write(summary_table(result.stats, self.hosts, self.task_times, result.duration))
        self.write(f"log: {result.log_path}")


class LiveProgress(PlainProgress):
    """Redraws one line per host in place (ANSI), printing failures above the live block."""

    def __init__(self, stream, title: str):
        self.drawn = 0
        self.current_task = ""
        super().__init__(stream, title)

    def on_play(self, event: dict) -> None:
        self.clear()
        self.write(f"PLAY {event['play']}")
        self.draw()

    def on_task(self, event: dict) -> None:
        self.current_task = task_label(event)
        self.draw()

    def tick(self) -> None:
        self.draw()  # the elapsed time moves on during a long task

    def on_result(self, event: dict) -> None:
        if event["event"] in ("failed", "unreachable") or event.get("diff") or event.get("warnings"):
            self.clear()
            self.show_failure(event)
            self.show_warnings(event)
            self.show_diff(event)
        self.draw()

    def clear(self) -> None:
        if self.drawn:
            self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def draw(self) -> None:
        self.clear()
        width = os.get_terminal_size(self.stream.fileno()).columns if self.stream.isatty() else 120
        elapsed = time.monotonic() - self.started
        lines = [f"{elapsed:6.1f}s  task: {self.current_task}"[:width]]
        for host, line in self.hosts.items():
            counts = f"ok={line.ok} changed={line.changed}" + (f" failed={line.failed}" if line.failed else "")
            lines.append(f"  {host:<16} {counts:<24} {line.task}"[:width])
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self.drawn = len(lines)

    def finish(self, result) -> None:
        self.clear()
        super().finish(result)


def summary_table(stats: dict, hosts: dict[str, HostLine], task_times: dict[str, float], duration: float) -> str:
    header = f"{'HOST':<18}{'OK':>6}{'CHANGED':>9}{'FAILED':>8}{'UNREACH':>9}{'SKIPPED':>9}{'TIME':>9}"
    rows = [header]
    for host in sorted(set(stats) | set(hosts)):
        s = stats.get(host, {})
        busy = hosts[host].busy if host in hosts else 0.0
        rows.append(f"{host:<18}{s.get('ok', 0):>6}{s.get('changed', 0):>9}{s.get('failures', 0):>8}"
                    f"{s.get('unreachable', 0):>9}{s.get('skipped', 0):>9}{busy:>8.1f}s")
    rows.append(f"total {duration:.1f}s")
    slowest = sorted(task_times.items(), key=lambda item: item[1], reverse=True)[:3]
    if slowest:
        rows.append("slowest tasks: " + "; ".join(f"{name} {secs:.1f}s" for name, secs in slowest))
    return "\n".join(rows)
