# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tls_certificate's work: a private CA on the control machine and the certificates it signs. It runs in the
task's worker process (the action plugin), not as a module: no second Python, no module wrapper."""

import datetime
import fcntl
import ipaddress
import os

from ansible.errors import AnsibleActionFail
from ansible_collections.dockyard.fleet.plugins.module_utils._files import write_atomically
from ansible_collections.dockyard.fleet.plugins.module_utils._module import Differences

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
    """An exclusive lock on the CA directory: its descriptor, closed to release it. The engine role issues its hosts'
    certificates in parallel (a worker process per host): one at a time reads, creates and signs with the CA, so
    that all of them get one CA. Without ``create`` (check mode) a CA directory that does not exist is not made."""
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

ARGUMENT_SPEC = {
    "ca_dir": {"type": "path", "required": True},
    "ca_common_name": {"type": "str", "default": "dockyard private CA"},
    **{option: dict(spec, required=False) for option, spec in CERTIFICATE.items()},
    "certificates": {"type": "list", "elements": "dict", "options": CERTIFICATE},
    "days": {"type": "int", "default": 397},
    "renew_before_days": {"type": "int", "default": 30},
}
ARGUMENT_RULES = {"mutually_exclusive": [("name", "certificates")], "required_one_of": [("name", "certificates")],
                  "required_by": {"name": ("common_name", "subject_alt_names")}}


def issue(p, check_mode, diff):
    """The result of tls_certificate for its options ``p``: the CA made where there is none, and each certificate
    issued where it has a reason (in check mode only predicted). The CA directory is locked meanwhile."""
    if x509 is None:
        raise AnsibleActionFail("tls_certificate needs the Python 'cryptography' package on the control machine; "
                                "install the dockyard runner (it depends on it) or `pip install cryptography`.")
    wanted = p["certificates"] or [{option: p[option] for option in CERTIFICATE}]
    # Bad names fail before the lock, which makes the CA directory: bad input leaves nothing behind.
    try:
        alt_names = {w["name"]: parse_sans(w["subject_alt_names"]) for w in wanted}
    except ValueError as exc:
        raise AnsibleActionFail(f"Cannot issue the certificates {', '.join(w['name'] for w in wanted)}: "
                                f"{exc}.") from None
    lock = hold_ca_lock(p["ca_dir"], create=not check_mode)
    try:
        return issue_locked(p, wanted, alt_names, check_mode, diff)
    finally:
        if lock is not None:
            os.close(lock)


def issue_locked(p, wanted, alt_names, check_mode, diff):
    ca_dir = p["ca_dir"]
    paths = {"ca_cert": os.path.join(ca_dir, "ca.crt"), "ca_key": os.path.join(ca_dir, "ca.key")}
    files = {w["name"]: {"cert": os.path.join(ca_dir, f"{w['name']}.crt"),
                         "key": os.path.join(ca_dir, f"{w['name']}.key")} for w in wanted}
    actions = []
    ca_cert = load(paths["ca_cert"], x509.load_pem_x509_certificate)
    ca_key = load(paths["ca_key"], lambda data: serialization.load_pem_private_key(data, None))
    if (ca_cert is None) != (ca_key is None):
        raise AnsibleActionFail(f"The CA in {ca_dir} is incomplete: one of ca.crt and ca.key is missing. Restore "
                                "it from a backup; removing both makes a new CA that no host trusts yet.")
    differences = Differences()
    differences.add("ca", "absent" if ca_cert is None else "present", "present")
    if ca_cert is None:
        actions.append("created the CA")
    due = []
    for w in wanted:
        sans = sorted(w["subject_alt_names"])
        cert = load(files[w["name"]]["cert"], x509.load_pem_x509_certificate)
        reason = "the CA is new" if ca_cert is None else reissue_reason(cert, ca_cert, sans, p["renew_before_days"])
        if reason:
            actions.append(f"issued {w['name']}.crt: {reason}")
            due.append(w)
        differences.add(f"{w['name']}.crt", summary(cert), {"subject_alt_names": sans, "days": p["days"]} if reason
                        else summary(cert))
    result = {"actions": actions, "ca_cert": paths["ca_cert"], "certificates": files}
    if p["name"]:
        result.update(files[p["name"]])
    result = differences.summary(result, diff)
    if check_mode or not actions:
        return result

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
    for w in due:
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
    return result
