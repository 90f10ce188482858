#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: registry_login
short_description: Make the host's Docker trust a registry's CA and log in to it, as docker login does
description:
  - With O(ca_cert), first installs the registry's CA certificate where the Engine looks for it
    (C(/etc/docker/certs.d/<registry>/ca.crt)), which trusts a private registry without C(insecure-registries) and
    without touching the system's CA store.
  - Checks the credentials with the registry through the host's Docker Engine (C(POST /auth), which uses the
    Engine's own TLS trust in C(/etc/docker/certs.d)) and stores them in the CLI config
    (C(~/.docker/config.json)) where C(docker pull), M(dockyard.fleet.image_build) and
    M(dockyard.fleet.stack_deploy) find them. Other entries of the file are kept.
  - When the stored credentials are already these, nothing is sent anywhere and nothing changes.
  - The host's C(python3) first reads the stored login and the CA alone, sent on its standard input, not as a module;
    the module runs only to change something or to wait for the registry. On a converged host the read costs a
    fifth of what starting Ansible's module framework would, and neither the read nor the password is logged on the
    host.
  - The password never appears in the output, the diff or an error message.
version_added: 1.0.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.docker
  - dockyard.fleet.attributes.action
options:
  registry:
    description: Registry address as image references name it, C(HOST[:PORT]).
    type: str
    required: true
  username:
    description: User name. Required with O(state=present).
    type: str
  password:
    description: Password. Required with O(state=present).
    type: str
  config_path:
    description: The CLI config file to store the login in.
    type: path
    default: ~/.docker/config.json
  ca_cert:
    description: The registry's CA certificate (PEM) for the Engine to trust; omitted, the trust is left alone.
    type: str
  certs_dir:
    description: The Engine's per-registry certificate directory.
    type: path
    default: /etc/docker/certs.d
  wait_timeout:
    description:
      - Seconds to wait for a registry that is just starting. Before the login, its C(/v2/) is asked over TLS
        (trusting the CA in O(certs_dir), where O(ca_cert) puts it) until it answers, then the token service its
        answer names (C(WWW-Authenticate) realm), if any. V(0) does not wait.
    type: int
    default: 0
  state:
    description:
      - V(present) logs in (and installs O(ca_cert)); V(absent) removes the login stored for O(registry) and the
        registry's directory in O(certs_dir) (its CA), as C(docker logout) and more. Other logins are kept.
    type: str
    choices: [present, absent]
    default: present
attributes:
  action:
    support: full
    details: The control machine reads the host's login and CA over the connection and sends the module only when
      something changes or the registry is waited for.
  check_mode:
    support: full
    details: Check mode reports whether the stored login would change; it contacts no registry.
  diff_mode:
    support: full
    details: The diff names the user stored for the registry, never the password.
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Trust the cluster's registry and log in to it
  dockyard.fleet.registry_login:
    registry: 10.88.0.11:5000
    username: dockyard
    password: "{{ registry_password }}"
    ca_cert: "{{ lookup('ansible.builtin.file', 'pki/ca.crt') }}"

- name: Forget the registry (dockyard reset does)
  dockyard.fleet.registry_login:
    registry: 10.88.0.11:5000
    state: absent
"""

RETURN = r"""
config_path:
  description: The file the login is stored in.
  returned: always
  type: str
ca_path:
  description: Where the CA certificate is installed (with O(state=absent), the directory removed).
  returned: with O(ca_cert), or O(state=absent)
  type: str
"""

import json
import os
import shutil
import urllib.error

from ansible.module_utils.urls import open_url
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
    wait_for,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._files import write_atomically
from ansible_collections.dockyard.fleet.plugins.module_utils._module import Differences, DockyardModule
from ansible_collections.dockyard.fleet.plugins.module_utils._registry_auth import (
    LOGIN_ARGS,
    LOGIN_REQUIRED_IF,
    challenge,
    encode_auth,
    login_state,
    read_config,
)


def answer(url, ca_path):
    """The HTTP status and WWW-Authenticate challenge ``url`` answers with (an error status is an answer too)."""
    try:
        with open_url(url, timeout=5, ca_path=ca_path, use_proxy=False, use_netrc=False) as response:
            return response.status, challenge(response.headers.get("WWW-Authenticate"))
    except urllib.error.HTTPError as exc:
        return exc.code, challenge(exc.headers.get("WWW-Authenticate"))


def wait_until_answering(module, registry, ca_path, timeout):
    """Wait until the registry's /v2/, then the token service it names, answer over TLS; fail saying which did not."""
    urls, errors = [f"https://{registry}/v2/"], {}

    def pending():
        try:
            status, (_scheme, params) = answer(urls[-1], ca_path)
        except OSError as exc:  # URLError is one: refused, reset, timed out, TLS
            errors[urls[-1]] = exc
            return urls[-1]
        if len(urls) == 1 and status == 401 and params.get("realm"):
            urls.append(params["realm"])
            return pending()
        return None

    late = wait_for(pending, timeout, 0.2)
    if late:
        module.fail_json(msg=f"Waiting on {module.host} for registry {registry} to answer: {late} did not answer "
                             f"within {timeout}s ({errors[late]}). Nothing was logged in. Is it running (on the "
                             "registry host: docker logs of the registry container, journalctl of its token server) "
                             "and can this host reach it?")


def log_out(module, state, changes):
    """Remove the login and the registry's certs.d directory (state absent)."""
    registry, ca_dir = module.params["registry"], state["ca_path"]
    if changes[registry]:
        config = read_config(state["config_path"])
        del config["auths"][registry]
        write_atomically(state["config_path"], json.dumps(config, indent="\t") + "\n", 0o600, dir_mode=0o700)
    if changes[ca_dir]:
        shutil.rmtree(ca_dir)


def main():
    module = DockyardModule(argument_spec=LOGIN_ARGS, required_if=LOGIN_REQUIRED_IF, supports_check_mode=True)
    p = module.params
    registry, username, host = p["registry"], p["username"], module.host
    state = login_state(**{key: p[key] for key in LOGIN_ARGS if key != "wait_timeout"})
    if state.get("failed"):
        module.fail_json(msg=state["msg"])
    differences = Differences()
    changes = {item: differences.add(item, before, state["after"][item]) for item, before in state["before"].items()}
    if p["state"] == "absent":
        if not module.check_mode:
            log_out(module, state, changes)
        module.exit_json(**differences.report(module, {"config_path": state["config_path"]}))
    ca_path = state.get("ca_path")
    if changes.get(ca_path) and not module.check_mode:
        write_atomically(ca_path, p["ca_cert"].strip() + "\n", 0o444)
    if p["wait_timeout"] > 0 and not module.check_mode:
        wait_until_answering(module, registry, ca_path if ca_path and os.path.exists(ca_path) else None,
                             p["wait_timeout"])
    result = differences.report(module, {key: state[key] for key in ("config_path", "ca_path") if key in state})
    if module.check_mode or not changes[registry]:
        module.exit_json(**result)
    try:
        module.api.request("POST", "/auth", body={
            "username": username, "password": p["password"], "serveraddress": registry})
    except DockerError as exc:
        # Engine 20.10 answers 500 with the registry's (or its token server's) refusal in the text.
        refused = exc.status == 401 or "401 Unauthorized" in str(exc) or "unauthorized:" in str(exc)
        hint = ("the user name or password is wrong - check registry_username and registry_password (hosts "
                "outside builders log in as registry_pull_username with registry_pull_password)"
                if refused else
                f"is the registry running and does this host trust its CA (/etc/docker/certs.d/{registry}/ca.crt)?")
        module.fail_json(msg=f"Logging in to registry {registry} as {username} on {host} failed: "
                             f"{str(exc).rstrip('.')}. "
                             f"Hint: {hint}.")
    config = read_config(state["config_path"])
    config.setdefault("auths", {})[registry] = {"auth": encode_auth(username, p["password"])}
    write_atomically(state["config_path"], json.dumps(config, indent="\t") + "\n", 0o600, dir_mode=0o700)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
