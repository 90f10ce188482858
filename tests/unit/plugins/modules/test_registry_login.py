"""registry_login's decision and diff, on this machine's files: the stored login is read from the config file, and
the password is never shown, only said to differ."""

import json

from ansible_collections.dockyard.fleet.plugins.module_utils._registry_auth import encode_auth

PASSWORD = "planted-password-5e2a"
REGISTRY = "registry.lab:5000"


def login(run_module, tmp_path, password, check=True):
    args = {"registry": REGISTRY, "username": "builder", "password": password,
            "config_path": str(tmp_path / "config.json"), "ca_cert": "-----CA-----",
            "certs_dir": str(tmp_path / "certs.d")}
    return run_module("registry_login", args, check=check)


def test_the_stored_login_and_the_ca_are_compared_and_the_diff_never_holds_a_password(tmp_path, run_module):
    (tmp_path / "config.json").write_text(json.dumps({"auths": {REGISTRY: {"auth": encode_auth("builder", "old")}}}))
    result, output = login(run_module, tmp_path, PASSWORD)
    assert result["changed"] and PASSWORD not in output and "old" not in json.dumps(result["diff"])
    assert result["diff"]["before"] == {REGISTRY: "builder (another password)",
                                        result["ca_path"]: "missing"}
    assert result["diff"]["after"][REGISTRY] == "builder" and not (tmp_path / "certs.d").exists()

    (tmp_path / "config.json").write_text(json.dumps({"auths": {REGISTRY: {"auth": encode_auth("builder",
                                                                                                PASSWORD)}}}))
    login(run_module, tmp_path, PASSWORD, check=False)  # writes the CA only: the login is already stored
    assert (tmp_path / "certs.d" / REGISTRY / "ca.crt").read_text() == "-----CA-----\n"
    again, _ = login(run_module, tmp_path, PASSWORD)
    assert not again["changed"] and again["diff"]["before"] == again["diff"]["after"]
