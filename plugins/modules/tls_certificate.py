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
  - Runs where the CA lives - the control machine, in the task's own worker process (an action plugin; no module
    is started, and the task's host is not contacted; C(delegate_to=localhost) says so in the run's log). Roles then
    copy the CA certificate to the hosts that must trust it and the server pair to the host that serves with it.
    Runs for several hosts at once take turns on the CA directory (a lock), so that they all get certificates of
    one CA.
  - Re-issues the server certificate only when it is missing, was not signed by this CA, names other
    addresses, or expires within O(renew_before_days). The CA itself is never replaced.
  - Keys are written with mode 0600 in a directory with mode 0700, atomically.
version_added: 1.0.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.attributes.action
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
  action:
    support: full
    details: All of it runs on the control machine.
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
