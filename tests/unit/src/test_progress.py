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


def test_json_report_follows_the_events_and_its_schema(tmp_path):
    import json

    import jsonschema

    from dockyard import report

    result = RunResult(1, tmp_path / "log", 3.5, stats={"a": {"ok": 1, "changed": 1, "failures": 0},
                                                        "b": {"ok": 0, "changed": 0, "failures": 1}},
                       started="2026-11-25T04:00:00Z")
    result.results = [e for e in events() if "host" in e]
    data = report.build(result, "site.yml", "inventory/lab")
    jsonschema.validate(data, json.loads(report.SCHEMA_PATH.read_text()))
    assert data["exit_code"] == 1 and data["hosts"]["a"] == {"ok": 1, "changed": 1, "failed": 0, "unreachable": 0,
                                                             "skipped": 0, "time": 2.5}
    assert data["tasks"][1] == {"host": "b", "task": "Install", "role": "engine", "action": "apt", "status": "failed",
                                "changed": False, "duration": 1.0, "msg": "No package docker.io"}


def test_live_clock_moves_without_events(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    out = Tty()
    monkeypatch.setattr("os.get_terminal_size", lambda fd: type("S", (), {"columns": 100})())
    monkeypatch.setattr(out, "fileno", lambda: 1, raising=False)
    clock = iter([100.0, 101.0, 102.0, 103.0])
    monkeypatch.setattr("time.monotonic", lambda: next(clock))
    progress = make_progress(out, "site.yml")  # starts the clock at 100.0
    progress.tick()
    progress.tick()
    assert "   1.0s  task: " in out.getvalue() and "   2.0s  task: " in out.getvalue()
