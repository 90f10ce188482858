#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: tls_certificate
short_description: Keep a private CA and the server certificates it signs, on the control machine
description:
  - Creates, once, a certificate authority (an ECDSA P-256 key and a self-signed certificate) in O(ca_dir), and
    issues a server certificate and key for O(common_name) and O(subject_alt_names) signed by it (or several, with
    O(certificates)).
  - Runs where the CA lives - the control machine (C(delegate_to=localhost)); roles then copy the CA certificate
    to the hosts that must trust it and the server pair to the host that serves with it. Runs for several hosts
    at once take turns on the CA directory (a lock), so that they all get certificates of one CA.
  - Re-issues the server certificate only when it is missing, was not signed by this CA, names other
    addresses, or expires within O(renew_before_days). The CA itself is never replaced.
  - Keys are written with mode 0600 in a directory with mode 0700, atomically.
version_added: 1.0.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
options:
  ca_dir:
    description: Directory of the CA (C(ca.crt), C(ca.key)) and of the certificates it issues.
    type: path
    required: true
  ca_common_name:
    description: Common name of the CA when it is created.
    type: str
    default: dockyard private CA
  name:
    description:
      - File name (without extension) of the server certificate and key in O(ca_dir). Give either O(name) with
        O(common_name) and O(subject_alt_names) for one certificate, or O(certificates) for several.
    type: str
  common_name:
    description: Common name of the server certificate.
    type: str
  subject_alt_names:
    description: C(DNS:name) and C(IP:address) entries; clients check the address they connect to against them.
    type: list
    elements: str
  usage:
    description:
      - What the certificate is for. V(server) certificates name the addresses clients check; V(client) ones
        (for mutual TLS, such as the Engine API's) authenticate their holder to servers that trust this CA.
    type: str
    choices: [server, client]
    default: server
  certificates:
    description:
      - Several certificates of the one CA in one call (one process on the control machine instead of one per
        certificate), each with the options of a single one.
    type: list
    elements: dict
    suboptions:
      name: {description: As O(name)., type: str, required: true}
      common_name: {description: As O(common_name)., type: str, required: true}
      subject_alt_names: {description: As O(subject_alt_names)., type: list, elements: str, required: true}
      usage: {description: As O(usage)., type: str, choices: [server, client], default: server}
  days:
    description: Validity of a newly issued server certificate.
    type: int
    default: 397
  renew_before_days:
    description: Re-issue the server certificate when it expires within this many days.
    type: int
    default: 30
requirements:
  - the Python C(cryptography) package on the control machine (a dependency of the dockyard runner)
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the subject alternative names and expiry of the server certificate.
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Certificate for the registry at its lab address
  dockyard.fleet.tls_certificate:
    ca_dir: "{{ playbook_dir }}/../.dockyard/pki"
    name: registry
    common_name: 10.88.0.11
    subject_alt_names: ["IP:10.88.0.11", "DNS:node1"]
  delegate_to: localhost
  run_once: true

- name: The registry's certificate and the token signer's, in one call
  dockyard.fleet.tls_certificate:
    ca_dir: "{{ playbook_dir }}/../.dockyard/pki"
    certificates:
      - {name: registry, common_name: 10.88.0.11, subject_alt_names: ["IP:10.88.0.11"]}
      - {name: registry-token, common_name: token signer, subject_alt_names: ["DNS:registry-token"]}
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
ca_cert:
  description: Path of the CA certificate.
  returned: success
  type: str
cert:
  description: Path of the server certificate.
  returned: with O(name)
  type: str
key:
  description: Path of the server key.
  returned: with O(name)
  type: str
certificates:
  description: Paths of each certificate and key, by name.
  returned: success
  type: dict
  sample: {registry: {cert: /srv/pki/registry.crt, key: /srv/pki/registry.key}}
actions:
  description: What was (or in check mode would be) done, in words.
  returned: always
  type: list
  elements: str
  sample: ["created the CA", "issued registry.crt: it did not exist"]
"""

import datetime
import fcntl
import ipaddress
import os

from ansible_collections.dockyard.fleet.plugins.module_utils._files import write_atomically
from ansible_collections.dockyard.fleet.plugins.module_utils._module import Differences, DockyardModule

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # reported by main()
    x509 = None
else:
    USAGES = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def parse_sans(entries):
    names = []
    for entry in entries:
        kind, _sep, value = entry.partition(":")
        if kind == "DNS" and value:
            names.append(x509.DNSName(value))
        elif kind == "IP":
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        else:
            raise ValueError(f"subject alternative name {entry!r} is neither DNS:<name> nor IP:<address>")
    return names


def san_strings(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return sorted([f"DNS:{n}" for n in ext.get_values_for_type(x509.DNSName)]
                  + [f"IP:{a}" for a in ext.get_values_for_type(x509.IPAddress)])


def build(subject, issuer, public_key, signing_key, days, extensions):
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days)))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def hold_ca_lock(ca_dir, create):
    """An exclusive lock on the CA directory, held until the module exits (its descriptor stays open). The engine
    role issues its hosts' certificates in parallel (one process per host): one at a time reads, creates and
    signs with the CA, so that all of them get one CA. Without ``create`` (check mode) a CA directory that does
    not exist is not made."""
    if not create and not os.path.isdir(ca_dir):
        return None
    os.makedirs(ca_dir, mode=0o700, exist_ok=True)
    descriptor = os.open(os.path.join(ca_dir, ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    return descriptor


def load(path, loader):
    try:
        with open(path, "rb") as handle:
            return loader(handle.read())
    except FileNotFoundError:
        return None


def reissue_reason(cert, ca_cert, sans, renew_before_days):
    if cert is None:
        return "it did not exist"
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return "it was not signed by this CA"
    if san_strings(cert) != sans:
        return f"it named {', '.join(san_strings(cert)) or 'nothing'}"
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    if left < datetime.timedelta(days=renew_before_days):
        return f"it expires in {left.days} day(s)"
    return None


def summary(cert):
    return {"subject_alt_names": san_strings(cert), "not_after": cert.not_valid_after_utc.isoformat()} if cert else {}


CERTIFICATE = {
    "name": {"type": "str", "required": True},
    "common_name": {"type": "str", "required": True},
    "subject_alt_names": {"type": "list", "elements": "str", "required": True},
    "usage": {"type": "str", "choices": ["server", "client"], "default": "server"},
}


def main():
    module = DockyardModule(
        argument_spec={
            "ca_dir": {"type": "path", "required": True},
            "ca_common_name": {"type": "str", "default": "dockyard private CA"},
            **{option: dict(spec, required=False) for option, spec in CERTIFICATE.items()},
            "certificates": {"type": "list", "elements": "dict", "options": CERTIFICATE},
            "days": {"type": "int", "default": 397},
            "renew_before_days": {"type": "int", "default": 30},
        },
        engine=False,
        mutually_exclusive=[("name", "certificates")],
        required_one_of=[("name", "certificates")],
        required_by={"name": ("common_name", "subject_alt_names")},
        supports_check_mode=True,
    )
    if x509 is None:
        module.fail_json(msg="tls_certificate needs the Python 'cryptography' package on the control machine; "
                             "install the dockyard runner (it depends on it) or `pip install cryptography`.")
    p = module.params
    ca_dir = p["ca_dir"]
    wanted = p["certificates"] or [{option: p[option] for option in CERTIFICATE}]
    paths = {"ca_cert": os.path.join(ca_dir, "ca.crt"), "ca_key": os.path.join(ca_dir, "ca.key")}
    files = {w["name"]: {"cert": os.path.join(ca_dir, f"{w['name']}.crt"),
                         "key": os.path.join(ca_dir, f"{w['name']}.key")} for w in wanted}
    try:
        alt_names = {w["name"]: parse_sans(w["subject_alt_names"]) for w in wanted}
    except ValueError as exc:
        module.fail_json(msg=f"Cannot issue the certificates {', '.join(files)}: {exc}.")
    actions = []
    hold_ca_lock(ca_dir, create=not module.check_mode)
    ca_cert = load(paths["ca_cert"], x509.load_pem_x509_certificate)
    ca_key = load(paths["ca_key"], lambda data: serialization.load_pem_private_key(data, None))
    if (ca_cert is None) != (ca_key is None):
        module.fail_json(msg=f"The CA in {ca_dir} is incomplete: one of ca.crt and ca.key is missing. Restore it "
                             "from a backup; removing both makes a new CA that no host trusts yet.")
    differences = Differences()
    differences.add("ca", "absent" if ca_cert is None else "present", "present")
    if ca_cert is None:
        actions.append("created the CA")
    issue = []
    for w in wanted:
        sans = sorted(w["subject_alt_names"])
        cert = load(files[w["name"]]["cert"], x509.load_pem_x509_certificate)
        reason = "the CA is new" if ca_cert is None else reissue_reason(cert, ca_cert, sans, p["renew_before_days"])
        if reason:
            actions.append(f"issued {w['name']}.crt: {reason}")
            issue.append(w)
        differences.add(f"{w['name']}.crt", summary(cert), {"subject_alt_names": sans, "days": p["days"]} if reason
                        else summary(cert))
    result = {"actions": actions, "ca_cert": paths["ca_cert"], "certificates": files}
    if p["name"]:
        result.update(files[p["name"]])
    result = differences.report(module, result)
    if module.check_mode or not actions:
        module.exit_json(**result)

    if ca_cert is None:
        ca_key = new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, p["ca_common_name"])])
        ca_cert = build(name, name, ca_key.public_key(), ca_key, 3650, [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                           key_encipherment=False, data_encipherment=False, key_agreement=False,
                           encipher_only=False, decipher_only=False), True),
            (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
        ])
        write_atomically(paths["ca_key"], key_pem(ca_key), 0o600, dir_mode=0o700)
        write_atomically(paths["ca_cert"], ca_cert.public_bytes(serialization.Encoding.PEM), 0o644, dir_mode=0o700)
    for w in issue:
        key = new_key()
        extensions = [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.ExtendedKeyUsage([USAGES[w["usage"]]]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
        ] + ([(x509.SubjectAlternativeName(alt_names[w["name"]]), False)] if alt_names[w["name"]] else [])
        cert = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, w["common_name"])]), ca_cert.subject,
                     key.public_key(), ca_key, p["days"], extensions)
        write_atomically(files[w["name"]]["key"], key_pem(key), 0o600, dir_mode=0o700)
        write_atomically(files[w["name"]]["cert"], cert.public_bytes(serialization.Encoding.PEM), 0o644,
                         dir_mode=0o700)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
