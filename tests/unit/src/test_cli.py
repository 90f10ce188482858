import subprocess
import sys


def dockyard(*args):
    return subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, check=False)


def test_missing_inventory_is_one_line_and_exit_2(tmp_path):
    proc = dockyard("up", "-i", str(tmp_path / "nope.yml"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("dockyard: error: inventory ") and "Traceback" not in proc.stderr
    assert "dockyard lab up" in proc.stderr


def test_even_managers_are_refused_before_anything_is_made():
    proc = dockyard("lab", "up", "--hosts", "4", "--managers", "2", "--name", "never-made")
    assert proc.returncode == 2
    assert "--managers 2: Swarm needs an odd number of managers" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_syntax_error_in_inventory_is_reported_not_traced(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  hosts: [unclosed\n")
    proc = dockyard("up", "-i", str(inv), "--check")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"inventory YAML error at {inv}:3:1" in proc.stderr


def test_unparsed_inventory_fails_instead_of_running_on_no_hosts(tmp_path):
    inv = tmp_path / "hosts"
    inv.write_text("[docker_hosts]\nbad:host:name:\n")
    proc = dockyard("up", "-i", str(inv), "--check")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Ansible cannot parse the inventory" in proc.stderr and "Traceback" not in proc.stderr


def test_a_variable_with_a_name_ansible_reserves_is_refused_in_one_line(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text("docker_hosts:\n  hosts:\n    n1:\n      action: 1\n      ansible_host: 127.0.0.1\n")
    proc = dockyard("up", "-i", str(inv), "--check")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == (f"dockyard: error: the inventory {inv} sets 'action', a name Ansible keeps for its own "
                           "keywords; rename the variable and run again\n")

def test_help_lists_every_command():
    out = dockyard("--help").stdout
    for command in ("up", "deploy", "check", "status", "lab"):
        assert f"    {command} " in out
    for command in ("up", "deploy", "check", "status"):
        assert "-i INVENTORY" in dockyard(command, "--help").stdout
    lab_help = dockyard("lab", "--help").stdout
    for action in ("up", "down", "status"):
        assert action in lab_help


def test_the_users_ansible_cfg_wins_setting_by_setting(tmp_path):
    import configparser

    from dockyard.collection import merged_config

    user = tmp_path / "ansible.cfg"
    user.write_text("[defaults]\nforks = 7\nremote_user = deploy\n")
    merged = configparser.ConfigParser(interpolation=None)
    merged.read(merged_config([user]))
    assert merged["defaults"]["forks"] == "7" and merged["defaults"]["remote_user"] == "deploy"
    assert merged["ssh_connection"]["pipelining"] == "true"  # the shipped setting they did not touch
    assert merged_config([tmp_path / "none.cfg"]).name == "ansible.cfg"  # no user file: the shipped one


def test_a_limit_matching_no_host_is_one_clear_error(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text("docker_hosts:\n  hosts:\n    web1:\n      ansible_host: 127.0.0.1\n")
    proc = dockyard("up", "-i", str(inv), "--limit", "db*")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"dockyard: error: --limit db* matches no host of {inv}; its hosts are web1 and "
                                   "its groups docker_hosts")


def test_forks_follow_the_targeted_hosts_unless_the_user_sets_them(monkeypatch):
    from dockyard.cli import forks_for

    monkeypatch.delenv("ANSIBLE_FORKS", raising=False)
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    assert forks_for(3) is None and forks_for(40) == 40 and forks_for(500) == 100
    monkeypatch.setenv("ANSIBLE_FORKS", "5")
    assert forks_for(40) is None


def test_check_loads_vault_values_with_the_vault_options(tmp_path, vaulted_inventory):
    # A local-connection inventory whose registry password is a !vault value.
    password_file = str(vaulted_inventory(tmp_path / "inv", {"all": {
        "vars": {"ansible_connection": "local"}, "children": {"docker_hosts": {"hosts": {"one": {}}}}}},
        {"registry_password": "s3cret-value"}))
    inventory = str(tmp_path / "inv")
    proc = dockyard("check", "-i", inventory, "--vault-password-file", password_file)
    assert proc.returncode == 0 and "all good" in proc.stdout, proc.stderr
    proc = dockyard("check", "-i", inventory, "--vault-id", f"prod@{password_file}")
    assert proc.returncode == 0, proc.stderr
    asked = dockyard("check", "-i", inventory, "--ask-vault-pass")  # no terminal here
    assert asked.returncode == 2 and "there is no terminal" in asked.stderr and "Traceback" not in asked.stderr
    assert "s3cret-value" not in proc.stdout + proc.stderr + asked.stderr


def test_vault_identities_reach_ansible_as_name_at_file():
    from types import SimpleNamespace

    from dockyard.runner import playbook_argv
    from dockyard.vault import Vault

    vault = Vault(SimpleNamespace(vault_password_file=["/a"], vault_id=["prod@/b", "/c"], ask_vault_pass=False))
    argv = playbook_argv("site.yml", "inv", vault=vault)
    assert argv[argv.index("--vault-id"):argv.index("--vault-id") + 6] == [
        "--vault-id", "default@/a", "--vault-id", "prod@/b", "--vault-id", "default@/c"]


def test_host_keys_are_checked_as_the_inventorys_ssh_options_say():
    from dockyard.check import host_key_settings, ssh_options

    args = "-o StrictHostKeyChecking=yes -oUserKnownHostsFile='/lab/known hosts' -o LogLevel=ERROR"
    assert ssh_options(args) == {"stricthostkeychecking": "yes", "userknownhostsfile": "/lab/known hosts",
                                 "loglevel": "ERROR"}
    files, strict = host_key_settings({}, "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/lab/known_hosts")
    assert files == ["/lab/known_hosts", "/etc/ssh/ssh_known_hosts"] and strict
    assert host_key_settings({}, "-o StrictHostKeyChecking=accept-new")[1] is False
    assert host_key_settings({"ansible_host_key_checking": False}, "")[1] is False
    files, strict = host_key_settings({"ansible_host_key_checking": True}, "")
    assert strict and files[0].endswith("/.ssh/known_hosts")


def test_kubernetes_status_is_healthy_only_with_every_kubelet_node_and_workload_ready(capsys):
    import json

    from dockyard.cli import print_kubernetes

    def node(name, ready):
        return {"kind": "Node", "metadata": {"name": name},
                "status": {"conditions": [{"type": "Ready", "status": ready}], "nodeInfo": {"kubeletVersion": "v1"}}}

    def deployment(ready):
        return {"kind": "Deployment", "metadata": {"namespace": "default", "name": "web"}, "spec": {"replicas": 2},
                "status": {"readyReplicas": ready} if ready else {}}

    def state(items, kubelets):
        return {"kubernetes": [json.dumps({"gitVersion": "v1"}), json.dumps({"items": items})],
                "kubelets": kubelets, "control_planes": ["cp"]}

    both = {"cp": "active", "n": "active"}
    assert print_kubernetes(state([node("cp", "True"), node("n", "True"), deployment(2)], both), ["cp", "n"]) == (
        True, True)
    assert "default    Deployment  web   2/2" in capsys.readouterr().out
    assert print_kubernetes(state([node("cp", "True"), node("n", "False"), deployment(2)], both), ["cp", "n"]) == (
        True, False)
    assert print_kubernetes(state([node("cp", "True"), node("n", "True"), deployment(0)], both), ["cp", "n"]) == (
        True, False)
    assert "0/2" in capsys.readouterr().out
    assert print_kubernetes(state([node("cp", "True")], {"cp": "active"}), ["cp", "n"]) == (False, False)
    assert print_kubernetes({"kubernetes": [], "kubelets": both, "control_planes": ["cp"]}, ["cp", "n"]) == (
        True, False)
    assert "no control plane's API server answered" in capsys.readouterr().out
