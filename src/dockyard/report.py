"""The machine-readable run report (`--json FILE`), built from the run's own events.

Its shape is documented in report.schema.json next to this file (docs/cli.md shows an example).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
_STATS = {"ok": "ok", "changed": "changed", "failed": "failures", "unreachable": "unreachable", "skipped": "skipped"}


def build(result, playbook: str, inventory: str) -> dict:
    tasks = []
    for event in result.results:
        task = {"host": event["host"], "task": event["task"], "role": event.get("role"), "action": event["action"],
                "status": event["event"], "changed": bool(event.get("changed")), "duration": event["duration"]}
        if "time" in event:
            task["ended"] = event["time"]
        if event["event"] in ("failed", "unreachable") and "msg" in event:
            task["msg"] = str(event["msg"])
        tasks.append(task)
    hosts = {}
    for host, stats in result.stats.items():
        hosts[host] = {key: int(stats.get(source, 0)) for key, source in _STATS.items()}
        hosts[host]["time"] = round(sum(t["duration"] for t in tasks if t["host"] == host), 3)
    return {"schema": "dockyard.run-report/1", "playbook": playbook, "inventory": inventory,
            "started": result.started, "duration": round(result.duration, 3), "exit_code": result.exit_code,
            "hosts": hosts, "tasks": tasks}


def write_private(path: Path, text: str) -> None:
    """``text`` in a new file at ``path`` that its owner alone may read (whatever the umask, or a file before)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def write(result, playbook: str, inventory: str, path: Path) -> None:
    """The report, readable by its owner only (task messages may name hosts, users and paths)."""
    write_private(path, json.dumps(build(result, playbook, inventory), indent=2) + "\n")
