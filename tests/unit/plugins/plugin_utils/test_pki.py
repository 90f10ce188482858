"""tls_certificate, which runs in the task's worker process on the control machine (plugin_utils._pki): issued in
parallel, as the engine role does for its hosts (a worker process per host), on a control machine with no CA yet,
every certificate is signed by the one CA that ends up in ca.crt; through Ansible, check mode predicts with a diff
and a second run changes nothing."""

import json
import multiprocessing
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ansible_collections.dockyard.fleet.plugins.plugin_utils._pki import issue
from cryptography import x509

from dockyard.collection import ansible_env


def options(ca_dir, host):
    return {"ca_dir": str(ca_dir), "name": f"engine-{host}", "common_name": host, "subject_alt_names": [f"DNS:{host}"],
            "ca_common_name": "dockyard private CA", "certificates": None, "usage": "server", "days": 397,
            "renew_before_days": 30}


def issue_for(ca_dir, host):
    return issue(options(ca_dir, host), check_mode=False, diff=False)


def test_hosts_issued_at_once_all_get_certificates_of_the_one_ca(tmp_path):
    hosts = [f"node{i}" for i in range(8)]
    with ProcessPoolExecutor(len(hosts), mp_context=multiprocessing.get_context("fork")) as pool:
        results = list(pool.map(issue_for, [tmp_path / "pki"] * len(hosts), hosts))
    assert sum("created the CA" in r["actions"] for r in results) == 1
    ca = x509.load_pem_x509_certificate((tmp_path / "pki" / "ca.crt").read_bytes())
    for host in hosts:
        cert = x509.load_pem_x509_certificate((tmp_path / "pki" / f"engine-{host}.crt").read_bytes())
        cert.verify_directly_issued_by(ca)  # raises when another CA signed it
    assert oct((tmp_path / "pki").stat().st_mode & 0o777) == "0o700"


def test_check_mode_predicts_the_ca_and_the_certificate_with_a_diff_and_a_second_run_changes_nothing(tmp_path):
    predicted = issue(options(tmp_path / "pki", "node1"), check_mode=True, diff=True)
    assert predicted["changed"] and not (tmp_path / "pki").exists()
    assert predicted["diff"]["before"] == {"ca": "absent", "engine-node1.crt": {}}
    assert predicted["diff"]["after"]["engine-node1.crt"]["subject_alt_names"] == ["DNS:node1"]
    made = issue(options(tmp_path / "pki", "node1"), check_mode=False, diff=True)
    assert made["changed"] and made["diff"] == predicted["diff"]
    again = issue(options(tmp_path / "pki", "node1"), check_mode=False, diff=True)
    assert not again["changed"] and again["diff"]["before"] == again["diff"]["after"]
    assert again["diff"]["after"]["engine-node1.crt"]["subject_alt_names"] == ["DNS:node1"]


def test_through_ansible_the_action_checks_its_options_and_runs_no_module(tmp_path):
    def action(args, *extra):
        adhoc = [str(Path(sys.executable).with_name("ansible")), "localhost", "-i", "localhost,", "-c", "local",
                 "-m", "dockyard.fleet.tls_certificate", "-a", json.dumps(args), "-vvv", *extra]
        done = subprocess.run(adhoc, capture_output=True, text=True, check=False,
                              env={**ansible_env(), "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
        assert "Using module file" not in done.stdout and "EXEC" not in done.stdout  # nothing sent, nothing run
        return json.loads(done.stdout.rsplit(" => ", 1)[1])  # the result comes last

    one = {"ca_dir": str(tmp_path / "pki"), "name": "engine-node1", "common_name": "node1",
           "subject_alt_names": ["DNS:node1"]}
    predicted = action(one, "--check")
    assert predicted["changed"] and predicted["actions"] == ["created the CA", "issued engine-node1.crt: the CA is new"]
    assert not (tmp_path / "pki").exists()
    made = action(one)
    assert made["changed"] and made["cert"] == str(tmp_path / "pki" / "engine-node1.crt")
    assert x509.load_pem_x509_certificate(Path(made["cert"]).read_bytes()).subject.rfc4514_string() == "CN=node1"
    assert not action(one)["changed"]

    refused = action(dict(one, subject_alt_names=["URI:x"]))
    assert refused["msg"] == ("Cannot issue the certificates engine-node1: subject alternative name 'URI:x' is "
                              "neither DNS:<name> nor IP:<address>.")
    fresh = dict(one, ca_dir=str(tmp_path / "fresh"), subject_alt_names=["URI:x"])
    assert action(fresh)["msg"] == refused["msg"] and not (tmp_path / "fresh").exists()  # bad input makes nothing
    assert "mutually exclusive: name|certificates" in action(dict(one, certificates=[]))["msg"]
