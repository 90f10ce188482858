# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A compose stack (the keys `docker stack deploy` takes) as Kubernetes manifests: pure functions, run on the
control machine (filter dockyard.fleet.kubernetes_manifests and `dockyard render`).

The compose file is read as the swarm path reads it (the same `Stack` validation, the same units, ports and
lists), then each key is converted or refused: nothing is dropped without a word. A refusal names the key's path
and why Kubernetes has no equivalent; with ``lossy`` it becomes a warning. Conversions that differ in a way an
operator should know are returned as notes. Output order and names are deterministic.
"""

from __future__ import annotations

import base64
import json
import math
import re

from ansible_collections.dockyard.fleet.plugins.module_utils._compose import (
    SECRET_IN_ENVIRONMENT,
    ComposeError,
    Stack,
    duration_ns,
    file_mode,
    key_value_list,
    parse_port,
    process_of,
    secret_looking,
    shape_errors,
    size_bytes,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
KIND_ORDER = ["Namespace", "NetworkPolicy", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service",
              "Deployment", "DaemonSet"]
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
CONTROL_PLANE_ONLY = {"key": CONTROL_PLANE, "operator": "Exists"}
CONSTRAINT = re.compile(r"^\s*(node\.[\w.-]+)\s*(==|!=)\s*(\S+)\s*$")
NODE_KEYS = {"node.hostname": "kubernetes.io/hostname", "node.platform.os": "kubernetes.io/os",
             "node.platform.arch": "kubernetes.io/arch"}
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
TOP_KEYS = ("services", "networks", "volumes", "secrets", "configs")
PORT_KEYS = ("target", "published", "protocol", "mode")
MOUNT_KEYS = ("type", "source", "target", "read_only", "tmpfs")
REF_KEYS = ("source", "target", "uid", "gid", "mode")


class Refused(ComposeError):
    """Keys Kubernetes has no equivalent for, each with its path and reason."""

    def __init__(self, refusals):
        self.refusals = refusals
        super().__init__("; ".join(f"{path}: {why}" for path, why in refusals))


def seconds(value, where):
    return max(1, math.ceil(duration_ns(value, where) / 10**9))


class Renderer:
    def __init__(self, name, compose, secrets, publish="loadbalancer", volume_size="1Gi", storage_class=None,
                 pull_secret=None, registry_auth=None):
        Stack(name, compose, secrets, "render")  # the swarm path's own checks: one reading of a compose file
        if not DNS_LABEL.match(name):
            raise ComposeError(f"stack name '{name}' must be a DNS label for a Kubernetes namespace (lower-case "
                               "letters, digits and '-')")
        if publish not in ("loadbalancer", "nodeport"):
            raise ComposeError(f"publish must be loadbalancer or nodeport, not '{publish}'")
        self.name, self.compose, self.secrets = name, compose, secrets
        self.publish, self.volume_size, self.storage_class = publish, volume_size, storage_class
        self.pull_secret = pull_secret or ("registry-pull" if registry_auth else None)
        self.registry_auth = registry_auth
        self.refusals, self.notes, self.objects = [], [], []

    # -- helpers -----------------------------------------------------------------------------------------------

    def refuse(self, path, why):
        self.refusals.append((path, why))

    def note(self, path, what):
        self.notes.append((path, what))

    def meta(self, name, component=None, annotations=None):
        labels = {"app.kubernetes.io/part-of": self.name, "app.kubernetes.io/managed-by": "dockyard"}
        if component:
            labels["app.kubernetes.io/name"] = component
        meta = {"name": name, "namespace": self.name, "labels": labels}
        if annotations:
            meta["annotations"] = annotations
        return meta

    def add(self, kind, api, meta, **body):
        self.objects.append(dict({"apiVersion": api, "kind": kind, "metadata": meta}, **body))

    def unknown(self, where, spec, known):
        for key in sorted(set(spec) - set(known)):
            self.refuse(f"{where}.{key}", "has no Kubernetes equivalent here")

    # -- the whole stack -----------------------------------------------------------------------------------------

    def render(self, lossy=False):
        self.objects.append({"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": self.name, "labels": {"app.kubernetes.io/part-of": self.name,
                                                                        "app.kubernetes.io/managed-by": "dockyard"}}})
        self.members = {}
        for key in self.compose:
            if key == "version" or key.startswith("x-"):
                self.note(key, "not used (as in docker stack deploy)")
            elif key not in TOP_KEYS:
                self.refuse(key, "has no Kubernetes equivalent here")
        services = self.compose["services"]
        for svc in services:
            if not DNS_LABEL.match(svc):
                self.refuse(f"services.{svc}", "a service name must be a DNS label in Kubernetes (lower-case letters, "
                                               "digits and '-')")
        if self.registry_auth:
            self.pull_secret_object(self.registry_auth)
        self.networks()
        self.files("configs")
        self.files("secrets")
        self.volumes()
        for svc, spec in services.items():
            self.service(svc, spec or {})
        self.network_policies()
        if self.refusals and not lossy:
            raise Refused(self.refusals)
        self.objects.sort(key=lambda o: (KIND_ORDER.index(o["kind"]), o["metadata"]["name"]))
        return {"objects": self.objects, "refused": self.refusals, "notes": self.notes}

    def networks(self):
        self.network_keys = []
        for key, spec in (self.compose.get("networks") or {}).items():
            spec = spec or {}
            where = f"networks.{key}"
            if spec.get("external"):
                self.refuse(where, "an external network is shared with other stacks; a NetworkPolicy of this "
                                   "namespace cannot admit them")
                continue
            if spec.get("driver", "overlay") != "overlay":
                self.refuse(f"{where}.driver", "pods share the cluster's one pod network (the CNI's)")
            for field in ("ipam", "driver_opts"):
                if spec.get(field):
                    self.refuse(f"{where}.{field}", "pod addresses and network options belong to the cluster's CNI")
            if "attachable" in spec:
                self.note(f"{where}.attachable", "has no meaning in Kubernetes (no container attaches to a network)")
            self.unknown(where, spec, ("driver", "attachable", "internal", "labels", "ipam", "driver_opts",
                                       "name", "external"))
            self.network_keys.append(key)

    def declared(self, kind, made_as, known):
        """The top-level ``kind`` objects (configs, secrets, volumes) this stack makes, as (key, spec, where,
        Kubernetes name, their labels as annotations); an external one is only noted: it must exist."""
        for key, spec in (self.compose.get(kind) or {}).items():
            spec = spec or {}
            where = f"{kind}.{key}"
            if spec.get("external"):
                self.note(where, f"external: {made_as} {spec.get('name', key)} must exist in namespace {self.name}")
                continue
            self.unknown(where, spec, (*known, "labels", "name", "external"))
            yield (key, spec, where, self.object_name(spec.get("name", key), where),
                   key_value_list(spec.get("labels"), f"{where}.labels") or None)

    def files(self, kind):
        """Configs as ConfigMaps, secrets as Secrets (their content only there)."""
        made_as = "ConfigMap" if kind == "configs" else "Secret"
        for key, spec, _where, name, labels in self.declared(kind, made_as, ("content",)):
            if kind == "configs":
                self.add("ConfigMap", "v1", self.meta(name, annotations=labels), data={key: spec["content"]})
            else:
                data = base64.b64encode(self.secrets[key].encode()).decode()
                self.add("Secret", "v1", self.meta(name, annotations=labels), type="Opaque", data={key: data})

    def pull_secret_object(self, auth):
        """The registry login as a dockerconfigjson Secret, the pods' image pull secret."""
        token = base64.b64encode(f"{auth['username']}:{auth['password']}".encode()).decode()
        config = json.dumps({"auths": {auth["address"]: {"username": auth["username"], "password": auth["password"],
                                                         "auth": token}}}, sort_keys=True)
        self.add("Secret", "v1", self.meta(self.pull_secret), type="kubernetes.io/dockerconfigjson",
                 data={".dockerconfigjson": base64.b64encode(config.encode()).decode()})

    def object_name(self, name, where):
        cleaned = re.sub(r"[^a-z0-9.-]", "-", name.lower()).strip("-.")
        if cleaned != name:
            self.note(where, f"named {cleaned} (Kubernetes names are lower-case DNS names)")
        return cleaned

    def volumes(self):
        for _key, spec, where, name, labels in self.declared("volumes", "PersistentVolumeClaim",
                                                             ("driver", "driver_opts")):
            if spec.get("driver", "local") != "local" or spec.get("driver_opts"):
                self.refuse(where, "volume drivers and their options are the cluster's storage classes; set "
                                   "storage_class instead")
            claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": self.volume_size}}}
            if self.storage_class:
                claim["storageClassName"] = self.storage_class
            self.add("PersistentVolumeClaim", "v1", self.meta(name, annotations=labels), spec=claim)

    # -- one service ---------------------------------------------------------------------------------------------

    def service(self, svc, spec):
        where = f"services.{svc}"
        deploy = spec.get("deploy") or {}
        container = {"name": svc, "image": spec["image"]}
        pod = {"containers": [container]}
        selector = {"app.kubernetes.io/part-of": self.name, "app.kubernetes.io/name": svc}
        pod_labels = dict(selector)
        process = process_of(spec, where)
        container.update({field: process[key] for key, field in (("entrypoint", "command"), ("command", "args"))
                          if key in process})
        if "environment" in process:
            container["env"] = [{"name": k, "value": v} for k, v in sorted(process["environment"].items())]
            for path in secret_looking(process["environment"], where):
                self.note(path, SECRET_IN_ENVIRONMENT)
        if "working_dir" in spec:
            container["workingDir"] = spec["working_dir"]
        self.security(where, spec, container, pod)
        if "hostname" in spec:
            pod["hostname"] = spec["hostname"]
        if spec.get("tty"):
            container["tty"] = True
        if "stop_grace_period" in spec:
            pod["terminationGracePeriodSeconds"] = seconds(spec["stop_grace_period"], f"{where}.stop_grace_period")
        if spec.get("extra_hosts"):
            hosts = spec["extra_hosts"]
            pairs = hosts.items() if isinstance(hosts, dict) else (h.split(":", 1) for h in hosts)
            by_ip = {}
            for name, ip in pairs:
                by_ip.setdefault(ip, []).append(name)
            pod["hostAliases"] = [{"ip": ip, "hostnames": names} for ip, names in sorted(by_ip.items())]
        for key, why in (("stop_signal", "Kubernetes stops containers with SIGTERM, then SIGKILL"),
                         ("init", "Kubernetes has no init process option (use an image with one)"),
                         ("dns", "custom name servers would replace the cluster DNS that service names need"),
                         ("logging", "logging is the cluster's node-level agent, not a per-container driver"),
                         ("ulimits", "Kubernetes has no per-container ulimits")):
            if spec.get(key):
                self.refuse(f"{where}.{key}", why)
        pod_annotations = key_value_list(spec.get("labels"), f"{where}.labels")
        if "healthcheck" in spec:
            self.probes(f"{where}.healthcheck", spec["healthcheck"] or {}, container)
        self.mounts(svc, where, spec, container, pod, deploy)
        for index, port in enumerate(spec.get("ports") or []):
            if isinstance(port, dict):
                self.unknown(f"{where}.ports[{index}]", port, PORT_KEYS)
        ports = [parse_port(p, f"{where}.ports") for p in spec.get("ports") or []]
        for index, port in enumerate(ports):
            entry = {"containerPort": port["TargetPort"], "protocol": port["Protocol"].upper()}
            if port["PublishMode"] == "host" and port.get("PublishedPort"):
                entry["hostPort"] = port["PublishedPort"]
                self.note(f"{where}.ports[{index}]", f"mode host: hostPort {port['PublishedPort']} on every node "
                                                     "running a pod, as in swarm")
            container.setdefault("ports", []).append(entry)
        for network in self.service_networks(svc, spec.get("networks"), where):
            pod_labels[f"network.dockyard.io/{network}"] = "true"
            self.members.setdefault(network, []).append(svc)
        if deploy.get("resources"):
            self.resources(f"{where}.deploy.resources", deploy["resources"], container)
        if self.pull_secret:
            pod["imagePullSecrets"] = [{"name": self.pull_secret}]
        mode = deploy.get("mode", "replicated")
        self.placement(f"{where}.deploy.placement", deploy.get("placement") or {}, pod, selector, mode)
        self.restart(f"{where}.deploy.restart_policy", deploy.get("restart_policy") or {})
        if deploy.get("rollback_config"):
            self.refuse(f"{where}.deploy.rollback_config", "Kubernetes rolls back only on request (kubectl rollout "
                                                           "undo)")
        template = {"metadata": {"labels": pod_labels}, "spec": pod}
        if pod_annotations:
            template["metadata"]["annotations"] = pod_annotations
        workload = {"selector": {"matchLabels": selector}, "template": template}
        strategy = self.update(f"{where}.deploy.update_config", deploy.get("update_config") or {}, workload)
        annotations = key_value_list(deploy.get("labels"), f"{where}.deploy.labels") or None
        if mode == "global":
            workload["updateStrategy"] = strategy
            self.add("DaemonSet", "apps/v1", self.meta(svc, svc, annotations), spec=workload)
        else:
            workload = dict({"replicas": int(deploy.get("replicas", 1))}, **workload)
            workload["strategy"] = strategy
            self.add("Deployment", "apps/v1", self.meta(svc, svc, annotations), spec=workload)
        self.service_object(svc, where, deploy, ports, selector)

    def security(self, where, spec, container, pod):
        context = {}
        if "user" in spec:
            user, _sep, group = str(spec["user"]).partition(":")
            if not user.isdigit() or (group and not group.isdigit()):
                self.refuse(f"{where}.user", "Kubernetes takes numeric user and group IDs (runAsUser)")
            else:
                context["runAsUser"] = int(user)
                if group:
                    context["runAsGroup"] = int(group)
        if spec.get("read_only"):
            context["readOnlyRootFilesystem"] = True
        caps = {}
        for key, field in (("cap_add", "add"), ("cap_drop", "drop")):
            if spec.get(key):
                caps[field] = [c.upper().removeprefix("CAP_") for c in spec[key]]
        if caps:
            context["capabilities"] = caps
        if context:
            container["securityContext"] = context
        if spec.get("sysctls"):
            values = key_value_list(spec["sysctls"], f"{where}.sysctls")
            pod["securityContext"] = {"sysctls": [{"name": k, "value": v} for k, v in sorted(values.items())]}

    def probes(self, where, spec, container):
        if spec.get("disable"):
            return
        test = spec.get("test")
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        if not test or test[0] == "NONE":
            return
        if test[0] == "CMD":
            command = [str(t) for t in test[1:]]
        elif test[0] == "CMD-SHELL":
            command = ["/bin/sh", "-c", " ".join(str(t) for t in test[1:])]
        else:
            self.refuse(f"{where}.test", "must start with CMD, CMD-SHELL or NONE")
            return
        probe = {"exec": {"command": command}}
        for key, field in (("interval", "periodSeconds"), ("timeout", "timeoutSeconds"),
                           ("start_period", "initialDelaySeconds")):
            if key in spec:
                probe[field] = seconds(spec[key], f"{where}.{key}")
        if "retries" in spec:
            probe["failureThreshold"] = int(spec["retries"])
        self.unknown(where, spec, ("test", "interval", "timeout", "start_period", "retries", "disable"))
        # A failing check stops traffic (readiness) and restarts the container (liveness), as swarm does.
        container["livenessProbe"] = probe
        container["readinessProbe"] = dict(probe)

    def mounts(self, svc, where, spec, container, pod, deploy):
        volumes, mounts = [], []
        declared = self.compose.get("volumes") or {}
        for index, item in enumerate(spec.get("volumes") or []):
            path = f"{where}.volumes[{index}]"
            if isinstance(item, str):
                parts = item.split(":")
                item = {"source": parts[0], "target": parts[1], "read_only": parts[2:] == ["ro"],
                        "type": "bind" if parts[0].startswith(("/", ".")) else "volume"}
            self.unknown(path, item, MOUNT_KEYS)
            kind = item.get("type", "volume")
            name = f"volume-{index}"
            if kind == "volume":
                source = declared[item["source"]] or {}
                claim = self.object_name(source.get("name", item["source"]), path)
                volumes.append({"name": name, "persistentVolumeClaim": {"claimName": claim}})
                if deploy.get("mode") == "global" or int(deploy.get("replicas", 1)) > 1:
                    self.note(path, f"every pod mounts the one claim {claim}: its storage class must allow "
                                    "ReadWriteMany, or keep one replica")
            elif kind == "tmpfs":
                empty = {"medium": "Memory"}
                size = (item.get("tmpfs") or {}).get("size")
                if size:
                    empty["sizeLimit"] = str(size_bytes(size, path))
                volumes.append({"name": name, "emptyDir": empty})
            else:
                self.refuse(path, "a bind mount ties pods to one node's files (hostPath); use a named volume")
                continue
            mounts.append({"name": name, "mountPath": item["target"], "readOnly": bool(item.get("read_only"))})
        for kind, default_dir in (("configs", "/"), ("secrets", "/run/secrets/")):
            objects = self.compose.get(kind) or {}
            for index, ref in enumerate(spec.get(kind) or []):
                ref = {"source": ref} if isinstance(ref, str) else dict(ref)
                path = f"{where}.{kind}[{index}]"
                self.unknown(path, ref, REF_KEYS)
                declared_spec = objects[ref["source"]] or {}
                target = ref.get("target", default_dir + ref["source"])
                if kind == "secrets" and not target.startswith("/"):
                    target = "/run/secrets/" + target
                name = f"{kind[:-1]}-{index}"
                source = self.object_name(declared_spec.get("name", ref["source"]), path)
                item = {"key": ref["source"], "path": target.rsplit("/", 1)[1] or ref["source"]}
                if "mode" in ref:
                    item["mode"] = file_mode(ref["mode"])
                for field in ("uid", "gid"):
                    if field in ref:
                        self.refuse(f"{path}.{field}", "Kubernetes sets the owner of mounted files for the whole pod "
                                                       "(fsGroup), not per file")
                if kind == "configs":
                    volumes.append({"name": name, "configMap": {"name": source, "items": [item]}})
                else:
                    volumes.append({"name": name, "secret": {"secretName": source, "items": [item]}})
                mounts.append({"name": name, "mountPath": target, "subPath": item["path"], "readOnly": True})
        if volumes:
            pod["volumes"] = volumes
            container["volumeMounts"] = mounts

    def service_networks(self, svc, networks, where):
        if not networks:
            networks = ["default"]
        keys = list(networks)
        if isinstance(networks, dict):
            for key, spec in networks.items():
                if (spec or {}).get("aliases"):
                    self.refuse(f"{where}.networks.{key}.aliases", "a pod is reached by its Service's name only")
        return [key for key in keys if key in self.network_keys or key == "default"]

    def resources(self, where, spec, container):
        out = {}
        for key, field in (("limits", "limits"), ("reservations", "requests")):
            values = spec.get(key) or {}
            self.unknown(f"{where}.{key}", values, ("cpus", "memory"))
            if "cpus" in values:
                out.setdefault(field, {})["cpu"] = f"{round(float(values['cpus']) * 1000)}m"
            if "memory" in values:
                out.setdefault(field, {})["memory"] = str(size_bytes(values["memory"], f"{where}.{key}.memory"))
        if out:
            container["resources"] = out

    def placement(self, where, spec, pod, selector, mode):
        terms = []
        for index, constraint in enumerate(spec.get("constraints") or []):
            match = CONSTRAINT.match(str(constraint))
            path = f"{where}.constraints[{index}]"
            if not match:
                self.refuse(path, f"'{constraint}' is not node.<attribute>==|!=<value>")
                continue
            attribute, op, value = match.groups()
            if attribute == "node.role":
                terms.append({"key": CONTROL_PLANE,
                              "operator": "Exists" if (op == "==") == (value == "manager") else "DoesNotExist"})
            elif attribute.startswith("node.labels."):
                terms.append({"key": attribute[len("node.labels."):], "operator": "In" if op == "==" else "NotIn",
                              "values": [value]})
            elif attribute in NODE_KEYS:
                value = ARCH.get(value, value) if attribute == "node.platform.arch" else value
                terms.append({"key": NODE_KEYS[attribute], "operator": "In" if op == "==" else "NotIn",
                              "values": [value]})
            else:
                self.refuse(path, f"{attribute} has no Kubernetes node label")
        # Swarm runs a global service's tasks on managers too, and a service placed on managers only there: their
        # pods tolerate the control planes' NoSchedule taint (other pods keep off the control planes, as kubeadm
        # means them to).
        if mode == "global" or CONTROL_PLANE_ONLY in terms:
            pod["tolerations"] = [{"key": CONTROL_PLANE, "operator": "Exists", "effect": "NoSchedule"}]
        if terms:
            pod.setdefault("affinity", {})["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": terms}]}}
        spreads = []
        for index, preference in enumerate(spec.get("preferences") or []):
            descriptor = str((preference or {}).get("spread", ""))
            if not descriptor.startswith("node.labels."):
                self.refuse(f"{where}.preferences[{index}]", "only spread over node.labels.* has a Kubernetes form")
                continue
            spreads.append({"maxSkew": 1, "topologyKey": descriptor[len("node.labels."):],
                            "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector}})
        if spreads:
            pod["topologySpreadConstraints"] = spreads
        most = spec.get("max_replicas_per_node")
        if most is not None:
            if int(most) != 1:
                self.refuse(f"{where}.max_replicas_per_node", "Kubernetes can keep pods apart (1 per node) but not "
                                                              "cap them at another number")
            else:
                pod.setdefault("affinity", {})["podAntiAffinity"] = {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": selector}, "topologyKey": "kubernetes.io/hostname"}]}
        self.unknown(where, spec, ("constraints", "preferences", "max_replicas_per_node"))

    def restart(self, where, spec):
        condition = str(spec.get("condition", "any")).replace("_", "-")
        if condition == "on-failure":
            self.note(f"{where}.condition", "pods of a Deployment or DaemonSet always restart their containers, "
                                            "also one that exits 0")
        elif condition == "none":
            self.refuse(f"{where}.condition", "a Deployment or DaemonSet always restarts its containers")
        if "delay" in spec:
            self.note(f"{where}.delay", "Kubernetes restarts with its own back-off (10 s doubling up to 5 min)")
        for key in ("max_attempts", "window"):
            if key in spec:
                self.refuse(f"{where}.{key}", "Kubernetes restarts a failing container without a limit")
        self.unknown(where, spec, ("condition", "delay", "max_attempts", "window"))

    def update(self, where, spec, workload):
        """update_config as a rolling update strategy; minReadySeconds from delay and monitor. Without one, Swarm's
        own defaults (one task at a time, stopped first), not Kubernetes' (a quarter surged): a service that keeps
        one replica per node on as many nodes as it has replicas could not surge, and would never roll out."""
        parallelism = int(spec.get("parallelism", 1))
        amount = parallelism if parallelism > 0 else "100%"
        first = spec.get("order", "stop-first")
        rolling = {"maxUnavailable": amount, "maxSurge": 0} if first == "stop-first" else {
            "maxUnavailable": 0, "maxSurge": amount}
        wait = max(duration_ns(spec.get(key, 0), f"{where}.{key}") for key in ("delay", "monitor"))
        if wait:
            workload["minReadySeconds"] = max(1, math.ceil(wait / 10**9))
        if spec.get("failure_action", "pause") != "pause":
            self.refuse(f"{where}.failure_action", "a Kubernetes rollout that fails stops (pause); it never rolls "
                                                   "back or continues by itself")
        if float(spec.get("max_failure_ratio", 0)):
            self.refuse(f"{where}.max_failure_ratio", "a Kubernetes rollout tolerates no failed pod")
        self.unknown(where, spec, ("parallelism", "delay", "monitor", "order", "failure_action", "max_failure_ratio"))
        return {"type": "RollingUpdate", "rollingUpdate": rolling}

    def service_object(self, svc, where, deploy, ports, selector):
        """One Service per compose service: headless for endpoint_mode dnsrr (or without ports), a virtual IP for
        vip; published ingress ports make it a LoadBalancer or NodePort."""
        dnsrr = deploy.get("endpoint_mode", "vip") == "dnsrr"
        entries, published = [], False
        for index, port in enumerate(ports):
            entry = {"name": f"{port['Protocol']}-{port['TargetPort']}", "port": port["TargetPort"],
                     "targetPort": port["TargetPort"], "protocol": port["Protocol"].upper()}
            if port["PublishMode"] == "ingress" and port.get("PublishedPort"):
                published = True
                entry["port"] = port["PublishedPort"]
                if self.publish == "nodeport":
                    if not 30000 <= port["PublishedPort"] <= 32767:
                        self.refuse(f"{where}.ports[{index}]", f"NodePort {port['PublishedPort']} is outside "
                                                               "30000-32767; publish as a LoadBalancer instead")
                    entry["nodePort"] = port["PublishedPort"]
            entries.append(entry)
        if not entries and not dnsrr:
            self.note(where, "no ports declared, so its Service is headless: the name resolves to the pods' own "
                             "addresses (any port), without a virtual IP")
            dnsrr = True
        spec = {"selector": selector}
        if entries:
            spec["ports"] = entries
        if published:
            spec["type"] = "NodePort" if self.publish == "nodeport" else "LoadBalancer"
        elif dnsrr:
            spec["clusterIP"] = "None"
        self.add("Service", "v1", self.meta(svc, svc), spec=spec)

    def network_policies(self):
        """Each compose network as a NetworkPolicy: its members take traffic from each other (and published
        ports from anywhere); an internal network's members reach only each other and the cluster DNS."""
        networks = self.compose.get("networks") or {}
        for key in sorted(self.members):
            label = {f"network.dockyard.io/{key}": "true"}
            spec = {"podSelector": {"matchLabels": label}, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"podSelector": {"matchLabels": label}}]}]}
            if (networks.get(key) or {}).get("internal"):
                spec["policyTypes"].append("Egress")
                spec["egress"] = [{"to": [{"podSelector": {"matchLabels": label}}]},
                                  {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]
            annotations = key_value_list((networks.get(key) or {}).get("labels"), f"networks.{key}.labels") or None
            self.add("NetworkPolicy", "networking.k8s.io/v1",
                     self.meta(self.object_name(f"network-{key}", f"networks.{key}"), annotations=annotations),
                     spec=spec)
        published = sorted({o["metadata"]["name"] for o in self.objects
                            if o["kind"] == "Service" and o["spec"].get("type")})
        if published:
            ports = [{"port": e["targetPort"], "protocol": e["protocol"]} for o in self.objects
                     if o["kind"] == "Service" and o["metadata"]["name"] in published for e in o["spec"]["ports"]]
            self.add("NetworkPolicy", "networking.k8s.io/v1", self.meta("published-ports"), spec={
                "podSelector": {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In",
                                                      "values": published}]},
                "policyTypes": ["Ingress"], "ingress": [{"ports": ports}]})


def render(name, compose, secrets=None, lossy=False, **options):
    """{"objects": [...], "refused": [(path, why)], "notes": [(path, what)]}; raises Refused unless lossy."""
    renderer = Renderer(name, compose, secrets or {}, **options)
    with shape_errors("the compose file"):
        return renderer.render(lossy)


def to_yaml(objects):
    """One YAML stream, keys sorted and no anchors: the same stack renders to the same bytes."""
    import yaml

    class Plain(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    return yaml.dump_all(objects, Dumper=Plain, sort_keys=True, default_flow_style=False, explicit_start=True)
