import io

from dockyard.progress import LiveProgress, PlainProgress, make_progress, summary_table
from dockyard.runner import RunResult


class Tty(io.StringIO):
    def isatty(self):
        return True


def events():
    yield {"event": "play_start", "play": "p", "hosts": ["a", "b"]}
    yield {"event": "task_start", "task": "Install", "role": "engine", "action": "apt"}
    yield {"event": "changed", "host": "a", "task": "Install", "role": "engine", "action": "apt",
           "changed": True, "duration": 2.5, "diff": "--- before\n+++ after\n+docker.io\n"}
    yield {"event": "failed", "host": "b", "task": "Install", "role": "engine", "action": "apt",
           "changed": False, "duration": 1.0, "msg": "No package docker.io", "rc": 100}


def test_plain_progress_prints_results_and_failure_details(monkeypatch):
    monkeypatch.setenv("CI", "true")
    out = Tty()
    progress = make_progress(out, "site.yml")
    assert type(progress) is PlainProgress
    for event in events():
        progress.handle(event)
    text = out.getvalue()
    assert "a                changed     engine : Install (2.5s)" in text
    assert "a: DIFF: engine : Install\n    --- before\n    +++ after\n    +docker.io\n" in text
    assert "b: FAILED: engine : Install" in text and "msg: No package docker.io" in text and "rc: 100" in text


def test_live_progress_on_a_terminal_redraws_one_line_per_host(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    out = Tty()
    progress = make_progress(out, "site.yml")
    assert type(progress) is LiveProgress
    monkeypatch.setattr("os.get_terminal_size", lambda fd: type("S", (), {"columns": 100})())
    monkeypatch.setattr(out, "fileno", lambda: 1, raising=False)
    for event in events():
        progress.handle(event)
    assert progress.drawn == 3  # the task line and one line per host
    assert "\x1b[" in out.getvalue() and "b: FAILED" in out.getvalue() and "+docker.io" in out.getvalue()


def test_summary_table_counts_per_host_and_names_slowest_task():
    stats = {"a": {"ok": 3, "changed": 1, "failures": 0, "unreachable": 0, "skipped": 2},
             "b": {"ok": 1, "changed": 0, "failures": 1, "unreachable": 0, "skipped": 0}}
    table = summary_table(stats, {}, {"engine : Install": 2.5}, 4.0)
    lines = table.splitlines()
    assert lines[1].split() == ["a", "3", "1", "0", "0", "2", "0.0s"]
    assert lines[2].split()[:4] == ["b", "1", "0", "1"]
    assert "slowest tasks: engine : Install 2.5s" in table


def test_exit_codes_separate_unreachable_from_failed(tmp_path):
    log = tmp_path / "log"
    assert RunResult(0, log, 1.0, stats={"a": {"failures": 0}}).exit_code == 0
    assert RunResult(2, log, 1.0, stats={"a": {"failures": 1}}).exit_code == 1
    assert RunResult(4, log, 1.0, stats={"a": {"unreachable": 1, "failures": 1}}).exit_code == 3
