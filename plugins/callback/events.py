# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: events
type: notification
short_description: Stream structured run events (JSON lines) to the dockyard runner
description:
  - Writes one JSON object per line for every play, task and per-host result, and the final stats,
    to the file descriptor named by the environment variable E(DOCKYARD_EVENTS_FD).
  - The C(dockyard) runner opens that pipe and draws its progress view and summary from it, so it never
    parses Ansible's human output. Without E(DOCKYARD_EVENTS_FD) the plugin does nothing.
  - Results of C(no_log) tasks carry no output, only their status.
version_added: 1.0.0
author: dockyard developers (@dockyard)
requirements:
  - enable in callbacks_enabled (the runner does this)
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

# Keys of a failed result worth showing a person; anything else stays in the run log.
_FAILURE_KEYS = ("msg", "rc", "stderr", "stdout", "cmd")


def _task_fields(task):
    return {
        "task": task.name or task.action,
        "role": task._role.get_name(include_role_fqcn=False) if task._role else None,
        "action": task.action,
        "uuid": task._uuid,
    }


def _controller_cpu():
    """CPU seconds the control machine spent on this run so far: ansible-playbook and the workers it reaped."""
    times = os.times()
    return round(times.user + times.system + times.children_user + times.children_system, 3)


def _failed_items(data):
    lines = []
    for item in data.get("results") or []:
        if item.get("failed"):
            label = item.get("_ansible_item_label", item.get("item"))
            hidden = "the output has been hidden because no_log is set on this task"
            lines.append(f"{label}: {hidden if item.get('_ansible_no_log') else item.get('msg', '')}")
    return "\n".join(lines)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "dockyard.fleet.events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        fd = os.environ.get("DOCKYARD_EVENTS_FD")
        self._out = os.fdopen(int(fd), "w", buffering=1, encoding="utf-8") if fd else None
        self._task_started = {}
        self._last_task = None

    def _emit(self, event, **data):
        if self._out is None:
            return
        data.update(event=event, time=time.time())
        try:
            self._out.write(json.dumps(data, default=str) + "\n")
        except (BrokenPipeError, ValueError):
            # The runner went away; Ansible carries on and keeps its own log.
            self._out = None

    # ansible-core 2.17 and 2.18 only have the underscore attributes; 2.19+ keeps them as aliases.
    def _result_event(self, event, result, **extra):
        task = result._task
        started = self._task_started.get(task._uuid, time.time())
        data = result._result
        payload = {
            "host": result._host.get_name(),
            **_task_fields(task),
            "changed": bool(data.get("changed", False)),
            "duration": round(time.time() - started, 3),
        }
        hidden = data.get("_ansible_no_log") or task.no_log
        if event in ("failed", "unreachable"):
            if hidden:
                payload["msg"] = "the output has been hidden because no_log is set on this task"
            else:
                payload.update({key: data[key] for key in _FAILURE_KEYS if data.get(key) not in (None, "")})
                items = _failed_items(data)
                if items:  # a loop: "One or more items failed" says nothing, each item's own message does
                    payload["msg"] = items
        elif payload["changed"] and task.diff and not hidden:
            # A loop keeps each item's diff in its own result.
            diffs = [data["diff"]] if data.get("diff") else [
                item["diff"] for item in data.get("results") or [] if item.get("changed") and item.get("diff")]
            if diffs:
                payload["diff"] = "".join(self._get_diff(diff) for diff in diffs)
        if data.get("warnings") and not hidden:
            payload["warnings"] = [str(w) for w in data["warnings"]]
        payload.update(extra)
        self._emit(event, **payload)

    def v2_playbook_on_start(self, playbook):
        self._emit("playbook_start", playbook=os.path.basename(playbook._file_name))

    def v2_playbook_on_play_start(self, play):
        hosts = play.get_variable_manager()._inventory.get_hosts(play.hosts)
        self._emit("play_start", play=play.get_name(), hosts=[host.get_name() for host in hosts])

    def v2_playbook_on_task_start(self, task, is_conditional):
        # A meta task (end_role, end_host) starts once per host: it is one task.
        if self._last_task == task._uuid:
            return
        self._last_task = task._uuid
        self._task_started[task._uuid] = time.time()
        self._emit("task_start", cpu=_controller_cpu(), **_task_fields(task))

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_runner_on_ok(self, result):
        self._result_event("changed" if result._result.get("changed") else "ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result_event("failed", result, ignored=bool(ignore_errors))

    def v2_runner_on_skipped(self, result):
        self._result_event("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._result_event("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            hosts[host] = {key: summary.get(key, 0) for key in
                           ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")}
        self._emit("stats", hosts=hosts, cpu=_controller_cpu())
