"""tls_certificate issued in parallel, as the engine role does for its hosts (one process per host), on a control
machine with no CA yet: every certificate is signed by the one CA that ends up in ca.crt."""

from concurrent.futures import ThreadPoolExecutor

from cryptography import x509


def issue(run_module, ca_dir, host, check=False):
    args = {"ca_dir": str(ca_dir), "name": f"engine-{host}", "common_name": host,
            "subject_alt_names": [f"DNS:{host}"]}
    return run_module("tls_certificate", args, check=check)[0]


def test_hosts_issued_at_once_all_get_certificates_of_the_one_ca(tmp_path, run_module):
    hosts = [f"node{i}" for i in range(8)]
    with ThreadPoolExecutor(len(hosts)) as pool:
        results = list(pool.map(lambda host: issue(run_module, tmp_path / "pki", host), hosts))
    assert sum("created the CA" in r["actions"] for r in results) == 1
    ca = x509.load_pem_x509_certificate((tmp_path / "pki" / "ca.crt").read_bytes())
    for host in hosts:
        cert = x509.load_pem_x509_certificate((tmp_path / "pki" / f"engine-{host}.crt").read_bytes())
        cert.verify_directly_issued_by(ca)  # raises when another CA signed it
    assert oct((tmp_path / "pki").stat().st_mode & 0o777) == "0o700"


def test_check_mode_predicts_the_ca_and_the_certificate_with_a_diff_and_a_second_run_changes_nothing(tmp_path,
                                                                                                     run_module):
    predicted = issue(run_module, tmp_path / "pki", "node1", check=True)
    assert predicted["changed"] and not (tmp_path / "pki").exists()
    assert predicted["diff"]["before"] == {"ca": "absent", "engine-node1.crt": {}}
    assert predicted["diff"]["after"]["engine-node1.crt"]["subject_alt_names"] == ["DNS:node1"]
    made = issue(run_module, tmp_path / "pki", "node1")
    assert made["changed"] and made["diff"] == predicted["diff"]
    again = issue(run_module, tmp_path / "pki", "node1")
    assert not again["changed"] and again["diff"]["before"] == again["diff"]["after"]
    assert again["diff"]["after"]["engine-node1.crt"]["subject_alt_names"] == ["DNS:node1"]
