# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: a compose stack as Kubernetes manifests."""

from ansible.errors import AnsibleFilterError
from ansible_collections.dockyard.fleet.plugins.module_utils._compose import ComposeError
from ansible_collections.dockyard.fleet.plugins.plugin_utils._kubernetes import render

DOCUMENTATION = r"""
name: kubernetes_manifests
short_description: Render a compose stack as Kubernetes manifests, refusing what has no equivalent
version_added: 1.0.0
author: dockyard developers (@dockyard)
description:
  - Takes what M(dockyard.fleet.compose_inline) read from a compose file (C(compose) and C(secrets)) and returns
    the Kubernetes objects of the stack - a Namespace named after the stack, a NetworkPolicy per compose network,
    ConfigMaps, Secrets, PersistentVolumeClaims, a Service per service, and a Deployment (replicated) or DaemonSet
    (global) per service - in a fixed order with deterministic names and C(app.kubernetes.io/*) labels.
  - Every compose key is converted or refused; refusals (key path and reason) fail the filter unless O(lossy).
    See docs/kubernetes.md for the mapping.
options:
  _input:
    description: The result of M(dockyard.fleet.compose_inline) (C(compose) and C(secrets)).
    type: dict
    required: true
  name:
    description: Stack name, which is the namespace.
    type: str
    required: true
  lossy:
    description: Turn refusals into warnings (returned in C(refused)) instead of failing.
    type: bool
    default: false
  publish:
    description: Service type for ports published through the swarm's routing mesh.
    type: str
    choices: [loadbalancer, nodeport]
    default: loadbalancer
  volume_size:
    description: Size requested by each PersistentVolumeClaim.
    type: str
    default: 1Gi
  storage_class:
    description: storageClassName of the claims (the cluster's default when not set).
    type: str
  pull_secret:
    description: Name of an image pull secret (kubectl create secret docker-registry) every pod uses.
    type: str
  registry_auth:
    description:
      - A registry login (C(address), C(username), C(password)) rendered as the image pull secret every pod uses
        (named O(pull_secret), else C(registry-pull)), a C(kubernetes.io/dockerconfigjson) Secret.
    type: dict
"""

EXAMPLES = r"""
- name: Render a stack for Kubernetes
  ansible.builtin.copy:
    content: "{{ (manifests.objects | map('to_nice_yaml') | join('---\n')) }}"
    dest: /tmp/web.yaml
    mode: "0600"
  vars:
    manifests: >-
      {{ lookup('file', 'stacks/web/compose.yml') | from_yaml
         | dockyard.fleet.compose_inline('stacks/web', {'DOCKYARD_REGISTRY': registry_endpoint})
         | dockyard.fleet.kubernetes_manifests('web') }}
"""

RETURN = r"""
_value:
  description:
    - C(objects), the manifests in apply order; C(refused), the key paths and reasons left out (with O(lossy));
      C(notes), conversions that differ from swarm in a way worth knowing.
  type: dict
"""


def kubernetes_manifests(read, name, lossy=False, **options):
    try:
        return render(name, read["compose"], read.get("secrets"), lossy, **options)
    except ComposeError as exc:
        raise AnsibleFilterError(f"stack {name} cannot be rendered for Kubernetes: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"kubernetes_manifests": kubernetes_manifests}
