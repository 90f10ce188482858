#!/usr/bin/python
# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: image_build
short_description: Build an image from a context on the control machine, tag it by content and push it
description:
  - Packs the build context (a directory on the control machine; C(.dockerignore) is honoured) into a tar whose
    bytes depend only on file names, modes and contents, and hashes it together with O(dockerfile),
    O(build_args), O(target) and O(labels). The image gets two tags - O(tag) and C(<tag>-<hash>) - and the
    label C(io.dockyard.context-hash).
  - Idempotent by content. First the host is asked, without sending the context, whether that content is already
    built and (with O(registry)) in the registry under both tags with the same digest. Only when it is not built
    is the context sent and built; an image built but missing from the registry is only pushed.
  - Builds with the Engine API (the classic builder, no BuildKit or buildx plugin needed) and never pulls a base
    image that is already on the host. A failing step fails the task with that step and its output.
  - Pushes with the host's login for the registry (M(dockyard.fleet.registry_login) or C(docker login)).
version_added: 1.0.0
author: dockyard developers (@dockyard)
extends_documentation_fragment:
  - dockyard.fleet.attributes
  - dockyard.fleet.attributes.action
  - dockyard.fleet.docker
options:
  name:
    description:
      - Repository name without registry, for example C(web) or C(team/web). Give O(name) and O(context) for one
        image, or O(images) for several.
    type: str
  tag:
    description: The declared tag; it moves to each new build.
    type: str
    default: latest
  context:
    description:
      - Directory on the control machine with the Dockerfile and the files it copies. Relative paths are looked
        up like a role's C(files). The action plugin packs it there; only the archive goes to the host.
    type: path
  dockerfile:
    description: Dockerfile path inside the context.
    type: str
    default: Dockerfile
  build_args:
    description: Build arguments (C(ARG)).
    type: dict
    default: {}
  target:
    description: Build stage to stop at.
    type: str
  labels:
    description: Labels to add to the image.
    type: dict
    default: {}
  images:
    description:
      - Several images in one call, in order (an image built FROM an earlier one of the list finds it pushed), each
        with O(name), O(tag), O(context), O(dockerfile), O(build_args), O(target) and O(labels). One module run on
        the host asks about all of them; the contexts of those that need a build are sent in a second.
    type: list
    elements: dict
    suboptions:
      name: {description: As O(name)., type: str, required: true}
      tag: {description: As O(tag)., type: str, default: latest}
      context: {description: As O(context)., type: path, required: true}
      dockerfile: {description: As O(dockerfile)., type: str, default: Dockerfile}
      build_args: {description: As O(build_args)., type: dict, default: {}}
      target: {description: As O(target)., type: str}
      labels: {description: As O(labels)., type: dict, default: {}}
      context_hash: {description: Set by the action plugin; not for users., type: str}
      context_archive: {description: Set by the action plugin; not for users., type: path}
  registry:
    description: Registry C(HOST[:PORT]) to push to; the image is named C(<registry>/<name>). Without it the image
      stays on the build host.
    type: str
  nocache:
    description: Build without the layer cache (only when a build happens).
    type: bool
    default: false
  build_timeout:
    description: Seconds a build (and a push) may take.
    type: int
    default: 1800
  context_hash:
    description: Set by the action plugin; not for users.
    type: str
  context_archive:
    description: Set by the action plugin; not for users.
    type: path
attributes:
  action:
    support: full
    details: The action plugin packs and hashes the context on the control machine.
  check_mode:
    support: full
    details: Check mode asks the host and the registry whether a build or push is needed, and sends nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Build the web image and push it to the cluster's registry
  dockyard.fleet.image_build:
    name: web
    tag: "1"
    context: "{{ playbook_dir }}/../examples/stacks/web"
    build_args: {BASE: "10.88.0.11:5000/busybox:1"}
    registry: 10.88.0.11:5000

- name: Build both, the web image from the base pushed just before it
  dockyard.fleet.image_build:
    images:
      - {name: base, tag: "1", context: "{{ playbook_dir }}/../images/base"}
      - {name: web, tag: "1", context: "{{ playbook_dir }}/../examples/stacks/web",
         build_args: {BASE: "10.88.0.11:5000/base:1"}}
    registry: 10.88.0.11:5000
"""

RETURN = r"""
image:
  description: The image reference with the declared tag.
  returned: with O(name), on success
  type: str
  sample: 10.88.0.11:5000/web:1
content_tag:
  description: The image reference with the content tag.
  returned: with O(name), on success
  type: str
  sample: 10.88.0.11:5000/web:1-3f2a9c81d0e4
image_id:
  description: Image ID on the build host (not in check mode when a build is due).
  returned: with O(name), on success
  type: str
digest:
  description: Registry digest of the pushed manifest.
  returned: when pushed to a registry
  type: str
needs:
  description: What the content needed when the task started - C(build), C(push) or C(nothing).
  returned: with O(name)
  type: str
built:
  description: Whether the image was built.
  returned: with O(name)
  type: bool
pushed:
  description: Whether the image was pushed.
  returned: with O(name)
  type: bool
images:
  description: With O(images), the result of each image as above (image, content_tag, image_id, digest, needs, built,
    pushed), in order; the single-image keys are then not returned.
  returned: with O(images)
  type: list
  elements: dict
"""

import base64
import json
import os
import re
import urllib.error
import urllib.request
from urllib.parse import quote

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_api import (
    DockerError,
    stream_error,
)
from ansible_collections.dockyard.fleet.plugins.module_utils._module import Differences, DockyardModule
from ansible_collections.dockyard.fleet.plugins.module_utils._registry_auth import (
    auth_header,
    credentials,
    read_config,
    registry_request,
)

CONTEXT_LABEL = "io.dockyard.context-hash"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def local_image(api, reference):
    return api.find(f"/images/{quote(reference, safe='')}/json")


def registry_digest(registry, name, tag, login):
    """The digest the registry holds for name:tag, or None; asked over HTTPS with the Engine's trust for it."""
    cafile = f"/etc/docker/certs.d/{registry}/ca.crt"
    try:
        return registry_request(f"https://{registry}/v2/{name}/manifests/{tag}", login,
                                cafile if os.path.isfile(cafile) else None, method="HEAD",
                                headers={"Accept": MANIFEST_TYPES}).get("Docker-Content-Digest")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        if exc.code == 401:
            raise DockerError(f"registry {registry} refused the stored login (HTTP 401)") from exc
        raise DockerError(f"registry {registry} answered HTTP {exc.code} for {name}:{tag}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DockerError(f"registry {registry} could not be reached over HTTPS: {reason}") from exc


def repo_digest(image, repository):
    for entry in (image or {}).get("RepoDigests") or []:
        name, _sep, digest = entry.partition("@")
        if name == repository:
            return digest
    return None


def failed_step(messages, error):
    """The step that failed and what it printed, from the classic builder's stream."""
    text = "".join(m.get("stream", "") for m in messages)
    start = text.rfind("Step ")
    step = text[start:] if start >= 0 else text
    first, _sep, output = step.partition("\n")
    output = "\n".join(line for line in ANSI.sub("", output).splitlines()
                       if not line.startswith((" ---> ", "Removing intermediate container")))
    return first.strip() or "the build", (output.strip() + "\n" + error).strip()


class Builder:
    def __init__(self, module, params, config):
        self.module = module
        self.p = params
        self.api = module.api
        self.host = module.host
        self.registry = self.p["registry"]
        self.repository = f"{self.registry}/{self.p['name']}" if self.registry else self.p["name"]
        self.tags = [self.p["tag"], f"{self.p['tag']}-{self.p['context_hash']}"]
        self.refs = [f"{self.repository}:{tag}" for tag in self.tags]
        self.login = credentials(config, self.registry) if self.registry else None

    def run(self, differences):
        """Build and push as the content needs; this image's result. A build without its context (the action
        plugin's first question) is only reported: the plugin sends the context next."""
        result = {"image": self.refs[0], "content_tag": self.refs[1], "built": False, "pushed": False}
        needs, declared = self.needs()
        result["needs"] = needs
        # What the declared tag is: an older image (its ID), the built one only here, or the built one pushed.
        wanted = self.refs[1] + (" in the registry" if self.registry else "")
        now = {"build": (declared or {}).get("Id"), "push": self.refs[1], "nothing": wanted}[needs]
        differences.add(self.refs[0], now, wanted)
        if needs == "build" and not self.p["context_archive"]:
            return result
        if needs == "build" and not self.module.check_mode:
            self.build()
            result["built"] = True
        if needs != "nothing" and self.registry and not self.module.check_mode:
            result["digest"] = self.push()
            result["pushed"] = True
        image = local_image(self.api, self.refs[1])
        if image:
            result["image_id"] = image["Id"]
        return result

    def needs(self):
        """build, push or nothing. Check mode before the Engine or the registry runs predicts the work."""
        return self.module.before_install(self._needs, ("build", None))

    def _needs(self):
        built = local_image(self.api, self.refs[1])
        declared = local_image(self.api, self.refs[0])
        if not built or not declared or declared["Id"] != built["Id"]:
            return "build", declared
        if self.registry:
            local = repo_digest(built, self.repository)
            try:
                remote = [registry_digest(self.registry, self.p["name"], tag, self.login) for tag in self.tags]
            except DockerError:
                if not self.module.check_mode:
                    raise
                remote = None
            if not local or remote != [local, local]:
                return "push", declared
        return "nothing", declared

    def build(self):
        p = self.p
        labels = dict(p["labels"], **{CONTEXT_LABEL: p["context_hash"]})
        query = {"t": self.refs, "dockerfile": p["dockerfile"], "buildargs": json.dumps(p["build_args"]),
                 "labels": json.dumps(labels), "target": p["target"], "rm": "1", "forcerm": "1",
                 "nocache": "1" if p["nocache"] else None}
        with open(p["context_archive"], "rb") as handle:
            archive = handle.read()
        messages = self.api.request("POST", "/build", query=query, data=archive, stream=True,
                                    headers={"Content-Type": "application/x-tar"}, timeout=p["build_timeout"])
        error = stream_error(messages)
        if error:
            step, output = failed_step(messages, error)
            self.module.fail_json(msg=f"Building {self.refs[0]} on {self.host} failed at {step}:\n{output}",
                                  step=step, output=output)

    def push(self):
        auth = auth_header(self.registry, *self.login) if self.login else base64.b64encode(b"{}").decode()
        digest = None
        for tag in self.tags:
            messages = self.api.request("POST", f"/images/{quote(self.repository, safe='')}/push",
                                        query={"tag": tag}, headers={"X-Registry-Auth": auth}, stream=True,
                                        timeout=self.p["build_timeout"])
            error = stream_error(messages)
            if error:
                hint = ("this host has no login for it: run the registry role (registry_login)" if not self.login
                        else "check the registry's address, certificate and the login stored on this host")
                self.module.fail_json(msg=f"Pushing {self.repository}:{tag} from {self.host} to registry "
                                          f"{self.registry} failed: {error}. Hint: {hint}.")
            digest = next((m["aux"]["Digest"] for m in messages if "Digest" in (m.get("aux") or {})), digest)
        return digest


IMAGE = dict(
    name={"type": "str"},
    tag={"type": "str", "default": "latest"},
    dockerfile={"type": "str", "default": "Dockerfile"},
    build_args={"type": "dict", "default": {}},
    target={"type": "str"},
    labels={"type": "dict", "default": {}},
    context={"type": "path"},
    context_hash={"type": "str"},
    context_archive={"type": "path"},
)
SHARED = ("registry", "nocache", "build_timeout")


def main():
    module = DockyardModule(
        argument_spec=dict(
            IMAGE,
            images={"type": "list", "elements": "dict",
                    "options": dict(IMAGE, name={"type": "str", "required": True},
                                    context={"type": "path", "required": True})},
            registry={"type": "str"},
            nocache={"type": "bool", "default": False},
            build_timeout={"type": "int", "default": 1800},
        ),
        mutually_exclusive=[("name", "images")],
        required_one_of=[("name", "images")],
        required_by={"name": ("context",)},
        supports_check_mode=True,
    )
    p = module.params
    wanted = [dict(image, **{key: p[key] for key in SHARED}) for image in p["images"] or [p]]
    if not all(image["context_hash"] for image in wanted):
        module.fail_json(msg="image_build is run through its action plugin, which packs the context on the control "
                             "machine and sets context_hash: call it as dockyard.fleet.image_build in a task.")
    try:
        config = read_config()  # once: every image of the call logs in with the same file
    except ValueError as exc:
        module.fail_json(msg=f"~/.docker/config.json on {module.host} is not valid JSON ({exc}).")
    differences = Differences()
    results = []
    for image in wanted:
        builder = Builder(module, image, config)
        try:
            results.append(builder.run(differences))
        except DockerError as exc:
            module.fail_json(msg=f"Building {builder.refs[0]} on {builder.host}: {exc}", images=results)
    result = results[0] if not p["images"] else {"images": results}
    module.exit_json(**differences.report(module, result))


if __name__ == "__main__":
    main()
