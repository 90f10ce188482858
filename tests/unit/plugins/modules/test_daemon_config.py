import hashlib
import json

import pytest
from ansible_collections.dockyard.fleet.plugins.module_utils._daemon_config import settled
from ansible_collections.dockyard.fleet.plugins.modules.daemon_config import (
    ConfigError,
    desired_config,
    read_current,
    render,
    validate,
)

SAFE = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}, "live-restore": True}


def config(settings=None, swarm_node=False, **options):
    args = {"log_max_size": "10m", "log_max_file": 3, "live_restore": True, **options}
    return desired_config(settings or {}, swarm_node=swarm_node, **args)


def test_safe_defaults_rotate_logs_and_live_restore():
    assert config() == SAFE


def test_swarm_nodes_get_no_live_restore():
    assert "live-restore" not in config(swarm_node=True)


def test_user_settings_win_and_log_opts_merge_as_strings():
    result = config({"data-root": "/srv/docker", "log-opts": {"max-file": 5, "compress": "true"}})
    assert result["data-root"] == "/srv/docker"
    assert result["log-opts"] == {"max-size": "10m", "max-file": "5", "compress": "true"}


def test_a_non_rotating_log_driver_gets_no_rotation_defaults():
    result = config({"log-driver": "journald"})
    assert result["log-driver"] == "journald" and "log-opts" not in result
    validate(result, [], False, set())


def test_empty_rotation_options_add_none():
    assert "log-opts" not in config(log_max_size="", log_max_file=0)


@pytest.mark.parametrize("settings, message", [
    ({"log-opt": {}}, "unknown key 'log-opt' (did you mean 'log-opts'?)"),
    ({"graph": "/srv"}, "'graph' is no longer a dockerd setting (use data-root)"),
    ({"debug": "yes"}, "'debug' must be a boolean, not string (\"yes\")"),
    ({"mtu": True}, "'mtu' must be a number, not boolean (true)"),
    ({"data-root": "srv/docker"}, "'data-root' must be an absolute path"),
    ({"log-driver": "journald", "log-opts": {"max-size": "1m"}}, "'log-opts' has 'max-size', which log-driver"),
])
def test_bad_settings_are_refused_naming_the_key(settings, message):
    with pytest.raises(ConfigError) as exc:
        validate(config(settings), [], False, set())
    assert message in str(exc.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as exc:
        validate(config({"nope": 1, "debug": 1}), [], False, set())
    assert "'nope'" in str(exc.value) and "'debug'" in str(exc.value)


def test_a_key_also_given_as_a_flag_is_refused():
    with pytest.raises(ConfigError, match="'hosts' is also set by the dockerd flag -H"):
        validate(config({"hosts": ["unix:///var/run/docker.sock"]}), ["-H", "fd://"], False, set())
    with pytest.raises(ConfigError, match="'debug' is also set by the dockerd flag --debug"):
        validate(config({"debug": True}), ["--debug"], False, set())


def test_live_restore_on_a_swarm_node_is_refused():
    with pytest.raises(ConfigError, match="dockerd refuses live-restore in swarm mode"):
        validate(config({"live-restore": True}, swarm_node=True), [], True, set())


def test_allow_keys_lets_a_newer_setting_through():
    validate(config({"firewall-backend": "nftables"}), [], False, {"firewall-backend"})


def test_render_is_stable_and_read_back_equal(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(render(SAFE))
    assert read_current(str(path)) == (render(SAFE), SAFE)
    path.write_text(json.dumps(SAFE))  # other formatting, same settings
    assert read_current(str(path))[1] == SAFE
    path.write_text("{not json")
    assert read_current(str(path)) == ("{not json", None)
    assert read_current(str(tmp_path / "missing.json")) == (None, None)


@pytest.mark.parametrize(("settings", "word"), [
    ({"insecure-registries": ["127.0.0.1:5000", "10.0.0.5:5000"]}, "10.0.0.5:5000"),
    ({"insecure-registries": ["10.0.0.0/8"]}, "CIS 2.5"),
    ({"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]}, "CIS 2.7"),
    ({"hosts": ["tcp://0.0.0.0:2376"], "tls": True}, "without 'tlsverify'"),
    ({"hosts": ["0.0.0.0:2375"]}, "CIS 2.7"),  # dockerd takes an address without a scheme for TCP
    ({"hosts": [" tcp://0.0.0.0:2375"]}, "CIS 2.7"),  # and trims the spaces
    ({"experimental": True}, "CIS 2.18"),
])
def test_what_the_cis_benchmark_forbids_is_refused_unless_allowed(settings, word):
    with pytest.raises(ConfigError, match=word):
        validate(config(settings), [], False, set())
    validate(config(settings), [], False, set(settings))



@pytest.mark.parametrize("flags", [
    ["-H tcp://0.0.0.0:2375"], ["-H", "tcp://0.0.0.0:2375"], ["-Htcp://0.0.0.0:2375"], ["-H=0.0.0.0:2375"],
    ["--host=tcp://0.0.0.0:2375"], ["-H fd:// --host 0.0.0.0:2375"]])
def test_a_tcp_api_in_dockerds_flags_is_refused_however_spelled(flags):
    with pytest.raises(ConfigError, match=r"flags listen on .*0\.0\.0\.0:2375 without --tlsverify"):
        validate(config({}), flags, False, {"hosts"})
    validate(config({}), [*flags, "--tlsverify"], False, set())
    validate(config({}), ["-H", "fd://", "-H unix:///run/other.sock"], False, set())

def test_loopback_registries_and_a_verified_tcp_api_pass():
    validate(config({"insecure-registries": ["127.0.0.0/8", "localhost:5000", "[::1]:5000", "127.0.0.1:5000"],
                     "hosts": ["tcp://0.0.0.0:2376"], "tlsverify": True}), [], False, set())


def test_hardening_defaults_sit_under_the_settings_and_empty_ones_are_left_out():
    result = desired_config({"icc": True}, "10m", 3, True, False,
                            {"icc": False, "no-new-privileges": True, "log-level": "", "default-ulimits": {}})
    assert result["icc"] is True and result["no-new-privileges"] is True
    assert "log-level" not in result and "default-ulimits" not in result


def test_settled_only_when_the_file_is_the_text_the_module_writes_and_dockerd_started_after_it():
    """The filter daemon_config_settled (module_utils _daemon_config.settled) from the engine role's read."""
    options = {"path": "/etc/docker/daemon.json", "settings": {"debug": True}, "defaults": {"icc": False},
               "log_max_size": "10m", "log_max_file": 3, "live_restore": True, "swarm_node": True,
               "flags": ["-H", "fd://"], "allow_keys": []}
    text = render(desired_config({"debug": True}, "10m", 3, True, True, {"icc": False}))
    digest = hashlib.sha256(text.encode()).hexdigest()

    def read(sha=digest, started="@1000", written=1000):
        return (f"{sha}  /etc/docker/daemon.json\nExecMainStartTimestamp={started}\n"
                f"{written} /etc/docker/daemon.json\n995 /etc/systemd/system/docker.service.d/dockyard.conf")

    assert settled(options, read())
    assert settled(options, read(written=1002))  # the clock's second of slack
    assert not settled(options, read(written=1003))  # written after dockerd started: a restart is pending
    assert settled(options, read(started=""))  # dockerd does not run: nothing pending (the service starts it)
    assert not settled(options, read().replace("ExecMainStartTimestamp=@1000\n", ""))  # no systemd to ask
    assert not settled(options, read(sha="0" * 64))  # another text (also one with the same settings)
    assert not settled(options, "")  # no file
    assert not settled(dict(options, swarm_node=False), read())  # the module asks the Engine
    refused = {"debug": True, "live-restore": True}  # on a swarm node: even a file already holding it is asked
    written = hashlib.sha256(render(desired_config(refused, "10m", 3, True, True, {"icc": False})).encode())
    assert not settled(dict(options, settings=refused), read(sha=written.hexdigest()))


def test_a_url_with_a_password_in_the_settings_is_warned_about(tmp_path, run_module):
    args = {"path": str(tmp_path / "daemon.json"), "swarm_node": False,
            "settings": {"proxies": {"http-proxy": "http://ops:planted@proxy.lab.invalid:3128"}}}
    result, _ = run_module("daemon_config", args, check=True)
    (warning,) = [w["event"]["msg"] if isinstance(w, dict) else w for w in result["warnings"]]
    assert "gets a URL with a user and password" in warning and "planted" not in warning
    plain, _ = run_module("daemon_config", dict(args, settings={"proxies": {"http-proxy": "http://proxy:3128"}}),
                          check=True)
    assert not plain.get("warnings")
