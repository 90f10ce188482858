"""host_files run as Ansible runs it (a module process given its arguments), on this machine's own files."""

import hashlib
import json
import stat
from pathlib import Path

import pytest

SECRET = "planted-secret-7d1c0f"


@pytest.fixture(name="run")
def run_fixture(run_module):
    return lambda files, secrets=None, check=False: run_module("host_files", {"files": files,
                                                                            "secrets": secrets or {}}, check=check)


def entries(tmp_path):
    base = tmp_path / "etc"
    return base, [
        {"path": str(base), "state": "directory", "mode": "0700"},
        {"path": str(base / "config.yml"), "content": "port: 5000\n", "mode": "0644"},
        {"path": str(base / "key.pem"), "mode": "0600"},
    ]


def test_check_mode_predicts_the_set_and_the_run_makes_exactly_it_then_nothing(tmp_path, run):
    base, files = entries(tmp_path)
    secrets = {str(base / "key.pem"): SECRET + "\n"}
    predicted, _ = run(files, secrets, check=True)
    assert predicted["changed"] and not base.exists()
    made, output = run(files, secrets)
    assert [row["changed"] for row in made["files"]] == [row["changed"] for row in predicted["files"]] == [True] * 3
    assert made["diff"] == predicted["diff"]
    assert SECRET not in output and "port: 5000" in json.dumps(made["diff"])
    assert stat.S_IMODE(base.stat().st_mode) == 0o700
    assert (base / "key.pem").read_text() == SECRET + "\n"
    assert stat.S_IMODE((base / "key.pem").stat().st_mode) == 0o600
    again, _ = run(files, secrets)
    assert not again["changed"] and "diff" in again and again["diff"] == []
    assert again["files"][1]["checksum"] == made["files"][1]["checksum"]
    # The secret's checksum holds while the file does, changes when it is written, and is no hash of the secret.
    assert again["files"][2]["checksum"] == made["files"][2]["checksum"]
    assert made["files"][2]["checksum"] not in {hashlib.sha1(SECRET.encode() + b"\n").hexdigest(),
                                                hashlib.sha256(SECRET.encode() + b"\n").hexdigest()}
    assert predicted["files"][2]["checksum"] == "(to be written)"
    changed, _ = run(files, {str(base / "key.pem"): SECRET + "2\n"})
    assert changed["files"][2]["checksum"] not in (made["files"][2]["checksum"], "(to be written)")


def test_a_changed_mode_or_content_is_put_back_and_shown(tmp_path, run):
    base, files = entries(tmp_path)
    secrets = {str(base / "key.pem"): SECRET}
    run(files, secrets)
    (base / "config.yml").write_text("port: 6000\n")
    (base / "key.pem").chmod(0o644)
    result, output = run(files, secrets)
    assert [row["changed"] for row in result["files"]] == [False, True, True]
    assert "port: 6000" in result["diff"][0]["before"] and result["diff"][0]["after"] == "port: 5000\n"
    assert result["diff"][1]["before_header"].endswith("(mode 0644)") and SECRET not in output
    assert (base / "config.yml").read_text() == "port: 5000\n"
    assert stat.S_IMODE((base / "key.pem").stat().st_mode) == 0o600


def test_a_directory_where_a_file_belongs_fails_and_changes_nothing(tmp_path, run):
    base, files = entries(tmp_path)
    (base / "config.yml").mkdir(parents=True)
    base.chmod(0o755)
    result, _ = run(files, {str(base / "key.pem"): SECRET})
    assert result["failed"] and "is a directory on this host" in result["msg"]
    assert not (base / "key.pem").exists() and stat.S_IMODE(base.stat().st_mode) == 0o755


def test_a_mode_that_is_not_octal_fails_naming_the_file_and_changes_nothing(tmp_path, run):
    base, files = entries(tmp_path)
    files[1]["mode"] = "rw-r--r--"
    result, _ = run(files, {str(base / "key.pem"): SECRET})
    assert result["failed"] and result["msg"] == f"{base / 'config.yml'}: mode 'rw-r--r--' is not octal permission " \
                                                 'bits such as "0600".'
    assert not base.exists()


def test_a_system_user_the_host_lacks_is_predicted_with_the_entries_it_owns_and_nothing_is_made(tmp_path,
                                                                                                  run_module):
    base, files = entries(tmp_path)
    files[0]["owner"] = "dockyard-no-such-user"
    result, _ = run_module("host_files", {"files": files, "secrets": {str(base / "key.pem"): SECRET},
                                          "system_users": ["dockyard-no-such-user", "root"]}, check=True)
    assert result["changed"] and result["users_added"] == ["dockyard-no-such-user"]
    assert result["diff"][0] == {"before_header": "user dockyard-no-such-user",
                                 "after_header": "user dockyard-no-such-user", "before": "",
                                 "after": "system user dockyard-no-such-user\n"}
    assert not base.exists()
    assert "dockyard-no-such-user:" not in Path("/etc/passwd").read_text(encoding="utf-8")


def test_a_unit_is_enabled_started_or_restarted_only_for_what_it_lacks():
    from ansible_collections.dockyard.fleet.plugins.modules.host_files import service_actions

    services = [{"name": "a.service", "restart_on": ["/etc/a.conf"]},
                {"name": "b.service", "restart_on": ["/etc/b.conf"]},
                {"name": "c.service", "restart_on": []}]
    states = {"a.service": ("enabled", "active"), "b.service": ("disabled", "inactive"),
              "c.service": ("enabled", "failed")}
    assert service_actions(services, states, set()) == [
        {"name": "a.service", "changed": False, "actions": []},
        {"name": "b.service", "changed": True, "actions": ["enable", "start"]},
        {"name": "c.service", "changed": True, "actions": ["start"]}]
    # A file it reads changed: a running unit restarts, a stopped one starts by restarting.
    assert [s["actions"] for s in service_actions(services, states, {"/etc/a.conf", "/etc/b.conf"})] == [
        ["restart"], ["enable", "restart"], ["start"]]
