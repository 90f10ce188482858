# Copyright (c) dockyard developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compose file (the keys `docker stack deploy` uses) to Swarm API specs: pure functions.

Objects get the names and labels `docker stack deploy` gives them (`<stack>_<name>`,
label com.docker.stack.namespace), so stacks deployed either way look the same. Secrets and
configs are immutable in Swarm, so their names carry a hash of their content and a change
makes a new version. A secret's hash is keyed (HMAC with a key of the cluster's), so that
whoever can list the secrets cannot confirm a guess of a value by hashing it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import shlex

NAMESPACE = "com.docker.stack.namespace"
SPEC_HASH = "io.dockyard.spec-hash"
SERVICE_KEYS = {
    "image", "command", "entrypoint", "environment", "labels", "deploy", "healthcheck", "networks", "ports",
    "volumes", "secrets", "configs", "stop_grace_period", "user", "working_dir", "hostname", "init", "read_only",
    "cap_add", "cap_drop", "extra_hosts", "dns", "stop_signal", "tty", "sysctls", "ulimits", "logging",
}
DEPLOY_KEYS = {"mode", "replicas", "placement", "update_config", "rollback_config", "restart_policy", "resources",
               "endpoint_mode", "labels"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.IGNORECASE)


class ComposeError(ValueError):
    pass


@contextlib.contextmanager
def shape_errors(where):
    """A value of the wrong shape met deeper in (a list where a mapping belongs, say) is a ComposeError naming the
    part of the file, not a traceback."""
    try:
        yield
    except ComposeError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ComposeError(f"{where}: a value has the wrong shape ({type(exc).__name__}: {exc}); see the compose "
                           "specification for its keys") from exc


def duration_ns(value, where):
    """'1m30s' or seconds as a number -> nanoseconds."""
    if isinstance(value, (int, float)):
        return int(value * 10**9)
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ComposeError(f"{where}: '{value}' is not a duration (e.g. 10s, 1m30s)")
    return int(sum(float(n) * _UNITS[u] for n, u in parts))


def size_bytes(value, where):
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value).strip())
    if not match:
        raise ComposeError(f"{where}: '{value}' is not a size (e.g. 512M, 1G)")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " "))


def integer(value, where):
    """A whole number the compose file gives as a number or its digits (YAML reads `replicas: "2"` as text)."""
    if isinstance(value, bool) or not re.match(r"^\s*-?\d+\s*$", str(value)):
        raise ComposeError(f"{where}: '{value}' is not a whole number")
    return int(value)


def key_value_list(value, where):
    """Compose's list-or-mapping (environment, labels) -> a dict of strings."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else _scalar(v) for k, v in value.items()}
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ComposeError(f"{where}: every item of the list must be a KEY=VALUE string")
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in value)
    raise ComposeError(f"{where} must be a list of KEY=VALUE or a mapping")


def _scalar(value):
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _argv(value):
    """A compose command: a list as it is, a string split the way a shell would (as docker stack does)."""
    return [str(v) for v in value] if isinstance(value, list) else shlex.split(str(value))


# Environment variables whose names say they hold a secret (a *_FILE variable names a file: the way to pass one).
SECRET_NAME = re.compile(r"PASSW(OR)?D|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.IGNORECASE)
SECRET_IN_ENVIRONMENT = (
    "looks like a secret: an environment value shows to whoever may inspect the service, and Ansible logs it with "
    "the compose file on the host that deploys; put it in secrets: (a file in /run/secrets/, which many images read "
    "from a *_FILE variable)")


def secret_looking(environment, where):
    """The paths of the variables of ``environment`` that look like secrets and have a value."""
    return [f"{where}.environment.{name}" for name, value in sorted(environment.items())
            if value and SECRET_NAME.search(name) and not name.upper().endswith("_FILE")]


def process_of(spec, where):
    """What a service runs: its entrypoint and command as argv lists and its environment as a dict, each only if
    set (the swarm's and Kubernetes' renderings name them differently)."""
    found = {key: _argv(spec[key]) for key in ("entrypoint", "command") if spec.get(key) is not None}
    env = key_value_list(spec.get("environment"), f"{where}.environment")
    return dict(found, environment=env) if env else found


def parse_port(port, where):
    if isinstance(port, dict):
        return {"Protocol": port.get("protocol", "tcp"), "TargetPort": integer(port.get("target"), f"{where}.target"),
                "PublishedPort": integer(port["published"], f"{where}.published") if "published" in port else None,
                "PublishMode": port.get("mode", "ingress")}
    text, _sep, protocol = str(port).partition("/")
    parts = text.split(":")
    if len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise ComposeError(f"{where}: '{port}' is not PUBLISHED:TARGET[/PROTOCOL] (ranges and IPs are not supported)")
    return {"Protocol": protocol or "tcp", "TargetPort": int(parts[-1]),
            "PublishedPort": int(parts[0]) if len(parts) == 2 else None, "PublishMode": "ingress"}


def file_mode(value):
    """A file mode as compose files write it: 0440 is read by YAML as the number already, "0440" is octal text."""
    return value if isinstance(value, int) else int(str(value), 8)


def content_name(stack, name, content, key=None):
    data = content.encode()
    digest = (hmac.new(key.encode(), data, hashlib.sha256) if key else hashlib.sha256(data)).hexdigest()[:10]
    return f"{stack}_{name}_{digest}"


class Stack:
    """The desired state of one stack: networks, secrets, configs and service specs."""

    def __init__(self, name, compose, secrets=None, secret_key=None):
        if not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", name):
            raise ComposeError(f"stack name '{name}' may only have letters, digits, '_', '.' and '-'")
        self.name = name
        self.compose = compose
        services = compose.get("services")
        if not isinstance(services, dict) or not services:
            raise ComposeError("the compose file has no services")
        for svc, spec in services.items():
            if not isinstance(spec or {}, dict):
                raise ComposeError(f"services.{svc} must be a mapping of service keys")
        for kind in ("networks", "volumes", "secrets", "configs"):
            if not isinstance(compose.get(kind) or {}, dict):
                raise ComposeError(f"{kind} must be a mapping of names to their keys")
        with shape_errors("the top-level networks, secrets and configs"):
            self.networks = self._networks()
            self.secrets = self._objects("secrets", secrets or {}, secret_key)
            self.configs = self._objects("configs", {})
        self.services, self.secret_looking = {}, []
        for svc, spec in services.items():
            with shape_errors(f"services.{svc}"):
                self.services[svc] = self._service(svc, spec or {})

    @property
    def labels(self):
        return {NAMESPACE: self.name}

    def _networks(self):
        declared = dict(self.compose.get("networks") or {})
        uses_default = any(not (spec or {}).get("networks") for spec in self.compose["services"].values())
        if uses_default:
            declared.setdefault("default", {})
        networks = {}
        for key, spec in declared.items():
            spec = spec or {}
            if spec.get("external"):
                networks[key] = {"external": True, "Name": spec.get("name", key)}
                continue
            ipam = spec.get("ipam") or {}
            networks[key] = {
                "Name": spec.get("name", f"{self.name}_{key}"),
                "Driver": spec.get("driver", "overlay"),
                "Attachable": bool(spec.get("attachable", False)),
                "Internal": bool(spec.get("internal", False)),
                "Options": {str(k): _scalar(v) for k, v in (spec.get("driver_opts") or {}).items()},
                "Labels": dict(key_value_list(spec.get("labels"), f"networks.{key}.labels"), **self.labels),
                "IPAM": {"Driver": ipam.get("driver", "default"),
                         "Config": [{"Subnet": c.get("subnet"), "Gateway": c.get("gateway"),
                                     "IPRange": c.get("ip_range")} for c in ipam.get("config") or []]},
            }
            for config in networks[key]["IPAM"]["Config"]:
                for field in [f for f, v in config.items() if v is None]:
                    del config[field]
        return networks

    def _objects(self, kind, contents, key=None):
        """Secrets (their contents given apart, named with a keyed hash) or configs (content in the compose)."""
        objects = {}
        unknown = sorted(set(contents) - set(self.compose.get(kind) or {}))
        if unknown:
            raise ComposeError(f"secrets {', '.join(unknown)} have a content but the compose file does not declare "
                               "them")
        for name, spec in (self.compose.get(kind) or {}).items():
            spec = spec or {}
            if spec.get("external"):
                objects[name] = {"external": True, "Name": spec.get("name", name)}
                continue
            if kind == "secrets" and "content" in spec:
                raise ComposeError(f"secrets.{name}: a secret's content goes in the secrets option (never logged), "
                                   "not in the compose file")
            content = contents.get(name) if kind == "secrets" else spec.get("content")
            if content is None:
                raise ComposeError(f"{kind}.{name} needs `file` (read on the control machine) or `content`")
            if kind == "secrets" and not key:
                raise ComposeError("secret names need a key for their hash (secret_name_key)")
            objects[name] = {
                "Name": content_name(self.name, name, content, key if kind == "secrets" else None),
                "Labels": dict(key_value_list(spec.get("labels"), f"{kind}.{name}.labels"), **self.labels),
                "Data": base64.b64encode(content.encode()).decode()}
        return objects

    def _refs(self, svc, kind, refs):
        """Service secrets/configs -> the API's file references (IDs filled in by the module)."""
        out = []
        for ref in refs or []:
            ref = {"source": ref} if isinstance(ref, str) else dict(ref)
            source = ref.get("source")
            declared = getattr(self, kind)
            if source not in declared:
                raise ComposeError(f"services.{svc}.{kind}: '{source}' is not declared under top-level {kind}")
            default_target = f"/run/secrets/{source}" if kind == "secrets" else f"/{source}"
            target = ref.get("target", default_target)
            if kind == "secrets" and not target.startswith("/"):
                target = f"/run/secrets/{target}"
            out.append({"File": {"Name": target, "UID": str(ref.get("uid", "0")), "GID": str(ref.get("gid", "0")),
                                 "Mode": file_mode(ref.get("mode", "0444"))},
                        f"{kind[:-1].capitalize()}Name": declared[source]["Name"]})
        return out

    def _mounts(self, svc, volumes):
        mounts = []
        declared = self.compose.get("volumes") or {}
        for item in volumes or []:
            if isinstance(item, str):
                parts = item.split(":")
                if len(parts) < 2:
                    raise ComposeError(f"services.{svc}.volumes: '{item}' needs SOURCE:TARGET (anonymous volumes "
                                       "are not supported in stacks)")
                item = {"source": parts[0], "target": parts[1], "read_only": parts[2:] == ["ro"],
                        "type": "bind" if parts[0].startswith(("/", ".")) else "volume"}
            kind = item.get("type", "volume")
            mount = {"Type": kind, "Target": item["target"], "ReadOnly": bool(item.get("read_only", False))}
            if kind == "volume":
                source = item["source"]
                if source not in declared:
                    raise ComposeError(f"services.{svc}.volumes: volume '{source}' is not declared under "
                                       "top-level volumes")
                spec = declared[source] or {}
                if spec.get("external"):
                    mount["Source"] = spec.get("name", source)
                else:
                    mount["Source"] = spec.get("name", f"{self.name}_{source}")
                    mount["VolumeOptions"] = {"Labels": dict(self.labels), "DriverConfig": {
                        "Name": spec.get("driver", "local"),
                        "Options": {str(k): _scalar(v) for k, v in (spec.get("driver_opts") or {}).items()}}}
            elif kind == "bind":
                mount["Source"] = item["source"]
            elif kind == "tmpfs":
                mount["TmpfsOptions"] = {"SizeBytes": size_bytes(item.get("tmpfs", {}).get("size", 0), svc)}
            else:
                raise ComposeError(f"services.{svc}.volumes: type '{kind}' is not supported (volume, bind, tmpfs)")
            mounts.append(mount)
        return mounts

    def _service(self, svc, spec):
        where = f"services.{svc}"
        unknown = sorted(set(spec) - SERVICE_KEYS)
        if unknown:
            raise ComposeError(f"{where}: {', '.join(unknown)} not supported by stack deploy (build images first "
                               "with the images role; depends_on and container_name do not apply to swarm services)")
        if "image" not in spec:
            raise ComposeError(f"{where} has no image")
        deploy = spec.get("deploy") or {}
        unknown = sorted(set(deploy) - DEPLOY_KEYS)
        if unknown:
            raise ComposeError(f"{where}.deploy: {', '.join(unknown)} not supported")

        container = {"Image": spec["image"], "Labels": key_value_list(spec.get("labels"), f"{where}.labels")}
        process = process_of(spec, where)
        container.update({field: process[key] for key, field in (("entrypoint", "Command"), ("command", "Args"))
                          if key in process})
        if "environment" in process:
            container["Env"] = [f"{k}={v}" for k, v in sorted(process["environment"].items())]
            self.secret_looking += secret_looking(process["environment"], where)
        for key, api in (("user", "User"), ("working_dir", "Dir"), ("hostname", "Hostname"),
                         ("stop_signal", "StopSignal"), ("tty", "TTY"), ("init", "Init"), ("read_only", "ReadOnly")):
            if key in spec:
                container[api] = spec[key]
        if "stop_grace_period" in spec:
            container["StopGracePeriod"] = duration_ns(spec["stop_grace_period"], f"{where}.stop_grace_period")
        if spec.get("extra_hosts"):
            hosts = spec["extra_hosts"]
            container["Hosts"] = [f"{v} {k}" for k, v in hosts.items()] if isinstance(hosts, dict) else \
                [" ".join(reversed(h.split(":", 1))) for h in hosts]
        if spec.get("dns"):
            container["DNSConfig"] = {"Nameservers": spec["dns"] if isinstance(spec["dns"], list) else [spec["dns"]]}
        if spec.get("cap_add"):
            container["CapabilityAdd"] = spec["cap_add"]
        if spec.get("cap_drop"):
            container["CapabilityDrop"] = spec["cap_drop"]
        if spec.get("sysctls"):
            container["Sysctls"] = key_value_list(spec["sysctls"], f"{where}.sysctls")
        if "healthcheck" in spec:
            container["Healthcheck"] = self._healthcheck(where, spec["healthcheck"] or {})
        mounts = self._mounts(svc, spec.get("volumes"))
        if mounts:
            container["Mounts"] = mounts
        for kind in ("secrets", "configs"):
            refs = self._refs(svc, kind, spec.get(kind))
            if refs:
                container[kind.capitalize()] = refs

        task = {"ContainerSpec": container, "Networks": self._service_networks(svc, spec.get("networks"))}
        placement = deploy.get("placement") or {}
        if placement:
            task["Placement"] = {}
            if placement.get("constraints"):
                task["Placement"]["Constraints"] = list(placement["constraints"])
            if placement.get("preferences"):
                task["Placement"]["Preferences"] = [{"Spread": {"SpreadDescriptor": p["spread"]}}
                                                    for p in placement["preferences"]]
            if "max_replicas_per_node" in placement:
                task["Placement"]["MaxReplicas"] = integer(placement["max_replicas_per_node"],
                                                           f"{where}.deploy.placement.max_replicas_per_node")
        restart = deploy.get("restart_policy") or {}
        if restart:
            task["RestartPolicy"] = {"Condition": restart.get("condition", "any").replace("_", "-")}
            if "delay" in restart:
                task["RestartPolicy"]["Delay"] = duration_ns(restart["delay"], f"{where}.deploy.restart_policy.delay")
            if "max_attempts" in restart:
                task["RestartPolicy"]["MaxAttempts"] = integer(
                    restart["max_attempts"], f"{where}.deploy.restart_policy.max_attempts")
            if "window" in restart:
                task["RestartPolicy"]["Window"] = duration_ns(restart["window"],
                                                              f"{where}.deploy.restart_policy.window")
        resources = deploy.get("resources") or {}
        for key, api in (("limits", "Limits"), ("reservations", "Reservations")):
            values = resources.get(key) or {}
            if "cpus" in values:
                task.setdefault("Resources", {}).setdefault(api, {})["NanoCPUs"] = int(float(values["cpus"]) * 10**9)
            if "memory" in values:
                task.setdefault("Resources", {}).setdefault(api, {})["MemoryBytes"] = size_bytes(
                    values["memory"], f"{where}.deploy.resources.{key}.memory")
        if spec.get("logging"):
            task["LogDriver"] = {"Name": spec["logging"].get("driver", "json-file"),
                                 "Options": {k: _scalar(v) for k, v in (spec["logging"].get("options") or {}).items()}}

        mode = deploy.get("mode", "replicated")
        if mode not in ("replicated", "global"):
            raise ComposeError(f"{where}.deploy.mode must be replicated or global, not '{mode}'")
        service = {
            "Name": f"{self.name}_{svc}",
            "Labels": dict(key_value_list(deploy.get("labels"), f"{where}.deploy.labels"), **self.labels),
            "TaskTemplate": task,
            "Mode": {"Replicated": {"Replicas": integer(deploy.get("replicas", 1), f"{where}.deploy.replicas")}}
            if mode == "replicated" else {"Global": {}},
            "EndpointSpec": {"Mode": deploy.get("endpoint_mode", "vip"),
                             "Ports": [parse_port(p, f"{where}.ports") for p in spec.get("ports") or []]},
        }
        for port in service["EndpointSpec"]["Ports"]:
            if port["PublishedPort"] is None:
                del port["PublishedPort"]
        if not service["EndpointSpec"]["Ports"]:
            del service["EndpointSpec"]["Ports"]  # the Engine keeps no empty list either
        if service["EndpointSpec"]["Mode"] == "dnsrr" and any(
                p["PublishMode"] == "ingress" for p in service["EndpointSpec"].get("Ports", [])):
            raise ComposeError(f"{where}: endpoint_mode dnsrr cannot publish ports in ingress mode; use mode: host")
        task["ContainerSpec"]["Labels"][NAMESPACE] = self.name
        for key, api in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig")):
            if deploy.get(key):
                service[api] = self._update_config(f"{where}.deploy.{key}", deploy[key])
        return service

    def _service_networks(self, svc, networks):
        if not networks:
            networks = ["default"]
        items = networks.items() if isinstance(networks, dict) else ((n, None) for n in networks)
        out = []
        for key, spec in items:
            if key not in self.networks:
                raise ComposeError(f"services.{svc}.networks: '{key}' is not declared under top-level networks")
            entry = {"Target": self.networks[key]["Name"], "Aliases": [svc]}
            entry["Aliases"] += list((spec or {}).get("aliases") or [])
            out.append(entry)
        return out

    @staticmethod
    def _healthcheck(where, spec):
        if spec.get("disable"):
            return {"Test": ["NONE"]}
        test = spec.get("test")
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        health = {"Test": test} if test else {}
        for key, api in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod")):
            if key in spec:
                health[api] = duration_ns(spec[key], f"{where}.healthcheck.{key}")
        if "retries" in spec:
            health["Retries"] = integer(spec["retries"], f"{where}.healthcheck.retries")
        return health

    @staticmethod
    def _update_config(where, spec):
        config = {}
        for key, api in (("parallelism", "Parallelism"), ("max_failure_ratio", "MaxFailureRatio")):
            if key in spec:
                config[api] = spec[key]
        for key, api in (("delay", "Delay"), ("monitor", "Monitor")):
            if key in spec:
                config[api] = duration_ns(spec[key], f"{where}.{key}")
        if "failure_action" in spec:
            config["FailureAction"] = spec["failure_action"]
        if "order" in spec:
            config["Order"] = spec["order"]
        return config

    def ingress_ports(self):
        """(service, port) pairs published through the routing mesh."""
        return [(svc, p["PublishedPort"] if "PublishedPort" in p else p["TargetPort"])
                for svc, spec in self.services.items() for p in spec["EndpointSpec"].get("Ports", [])
                if p["PublishMode"] == "ingress"]


def spec_hash(spec):
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
