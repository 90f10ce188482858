"""tls_certificate issued in parallel, as the engine role does for its hosts (one process per host), on a control
machine with no CA yet: every certificate is signed by the one CA that ends up in ca.crt."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from cryptography import x509

from dockyard.collection import collections_path

MODULE = "ansible_collections.dockyard.fleet.plugins.modules.tls_certificate"


def issue(ca_dir, host):
    args = {"ca_dir": str(ca_dir), "name": f"engine-{host}", "common_name": host,
            "subject_alt_names": [f"DNS:{host}"]}
    proc = subprocess.run([sys.executable, "-m", MODULE], input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(collections_path())})
    return json.loads(proc.stdout)


def test_hosts_issued_at_once_all_get_certificates_of_the_one_ca(tmp_path):
    hosts = [f"node{i}" for i in range(8)]
    with ThreadPoolExecutor(len(hosts)) as pool:
        results = list(pool.map(lambda host: issue(tmp_path / "pki", host), hosts))
    assert sum("created the CA" in r["actions"] for r in results) == 1
    ca = x509.load_pem_x509_certificate((tmp_path / "pki" / "ca.crt").read_bytes())
    for host in hosts:
        cert = x509.load_pem_x509_certificate((tmp_path / "pki" / f"engine-{host}.crt").read_bytes())
        cert.verify_directly_issued_by(ca)  # raises when another CA signed it
    assert oct((tmp_path / "pki").stat().st_mode & 0o777) == "0o700"
