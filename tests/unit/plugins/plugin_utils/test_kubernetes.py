"""Compose stacks rendered as Kubernetes manifests: valid for several Kubernetes versions (the official schemas,
strict), saying what the compose file says, deterministic, and nothing left out without a word."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from ansible_collections.dockyard.fleet.plugins.filter.compose import compose_inline
from ansible_collections.dockyard.fleet.plugins.module_utils._compose import duration_ns, size_bytes
from ansible_collections.dockyard.fleet.plugins.plugin_utils._kubernetes import Refused, render, to_yaml

HERE = Path(__file__).parent / "kubernetes"
SAMPLE = Path(__file__).resolve().parents[4] / "examples" / "stacks" / "web" / "compose.yml"
STACKS = {"web": SAMPLE, "every_key": HERE / "every_key" / "compose.yml", "shop": HERE / "shop" / "compose.yml"}
VERSIONS = ["1.28.0", "1.30.0", kubernetes_validate.latest_version()]
VARIABLES = {"DOCKYARD_REGISTRY": "10.0.0.11:5000"}


def read(path):
    return compose_inline(yaml.safe_load(path.read_text()), str(path.parent), VARIABLES)


def rendered(name, **options):
    stack = read(STACKS[name])
    return stack, render(name.replace("_", "-"), stack["compose"], stack["secrets"], **options)


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(STACKS))
def test_every_manifest_is_valid_kubernetes(name, version):
    _, result = rendered(name)
    errors = []
    for obj in result["objects"]:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']} {obj['metadata']['name']}: {exc.message}")
    assert errors == []


@pytest.mark.parametrize("name", sorted(STACKS))
def test_each_service_says_what_the_compose_file_says(name):
    stack, result = rendered(name)
    compose = stack["compose"]
    workloads = {**by_kind(result["objects"], "Deployment"), **by_kind(result["objects"], "DaemonSet")}
    assert set(workloads) == set(compose["services"])
    for svc, spec in compose["services"].items():
        deploy = spec.get("deploy") or {}
        workload = workloads[svc]
        assert workload["metadata"]["namespace"] == name.replace("_", "-")
        if deploy.get("mode") == "global":
            assert workload["kind"] == "DaemonSet"
        else:
            assert workload["kind"] == "Deployment" and workload["spec"]["replicas"] == deploy.get("replicas", 1)
        pod = workload["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == spec["image"]
        env = spec.get("environment") or {}
        env = dict(e.split("=", 1) for e in env) if isinstance(env, list) else {k: str(v) for k, v in env.items()}
        assert {e["name"]: e["value"] for e in container.get("env", [])} == env
        targets = sorted(p["target"] if isinstance(p, dict) else int(str(p).split(":")[-1])
                         for p in spec.get("ports") or [])
        assert sorted(p["containerPort"] for p in container.get("ports", [])) == targets
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and port.get("mode") == "host":
                assert {"containerPort": port["target"], "hostPort": port["published"],
                        "protocol": "TCP"} in container["ports"]
        health = spec.get("healthcheck")
        if health:
            test = health["test"]
            command = test[1:] if isinstance(test, list) and test[0] == "CMD" else [
                "/bin/sh", "-c", test if isinstance(test, str) else test[1]]
            for probe in (container["livenessProbe"], container["readinessProbe"]):
                assert probe["exec"]["command"] == command
                assert probe.get("periodSeconds") == (duration_ns(health["interval"], "") // 10**9
                                                      if "interval" in health else None)
                assert probe.get("failureThreshold") == health.get("retries")
        else:
            assert "livenessProbe" not in container
        mounted = {m["mountPath"] for m in container.get("volumeMounts", [])}
        wanted = {(v if isinstance(v, dict) else {"target": v.split(":")[1]})["target"]
                  for v in spec.get("volumes") or []}
        for kind, default in (("configs", "/"), ("secrets", "/run/secrets/")):
            for ref in spec.get(kind) or []:
                ref = {"source": ref} if isinstance(ref, str) else ref
                target = ref.get("target", default + ref["source"])
                wanted.add(target if target.startswith("/") else "/run/secrets/" + target)
        assert mounted == wanted
        constraints = (deploy.get("placement") or {}).get("constraints") or []
        expressions = (pod.get("affinity", {}).get("nodeAffinity", {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms") or [{}])[0].get(
            "matchExpressions", [])
        assert len(expressions) == len(constraints)
        # Where Swarm would run tasks on managers, the pods tolerate the control planes' taint; nowhere else.
        on_managers = deploy.get("mode") == "global" or any(
            "".join(str(c).split()) == "node.role==manager" for c in constraints)
        assert pod.get("tolerations") == ([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                            "effect": "NoSchedule"}] if on_managers else None), svc
        if not deploy.get("update_config"):  # Swarm's defaults: one at a time, stopped first
            assert workload["spec"]["updateStrategy" if workload["kind"] == "DaemonSet" else "strategy"] == {
                "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}, svc
        limits = (deploy.get("resources") or {}).get("limits") or {}
        if "memory" in limits:
            assert container["resources"]["limits"]["memory"] == str(size_bytes(limits["memory"], ""))


def test_every_key_lands_where_kubernetes_keeps_it():
    stack, result = rendered("every_key")
    objects = result["objects"]
    app = by_kind(objects, "Deployment")["app"]["spec"]
    pod, container = app["template"]["spec"], app["template"]["spec"]["containers"][0]
    assert container["command"] == ["/app/bin/server"] and container["args"] == ["--port", "8000", "--verbose"]
    assert container["securityContext"] == {"runAsUser": 1000, "runAsGroup": 1000, "readOnlyRootFilesystem": True,
                                            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}
    assert pod["securityContext"] == {"sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]}
    assert pod["hostAliases"] == [{"ip": "10.1.2.3", "hostnames": ["db.legacy", "cache.legacy"]}]
    assert pod["terminationGracePeriodSeconds"] == 15 and pod["hostname"] == "app-host"
    assert container["workingDir"] == "/app" and container["tty"] is True
    assert container["readinessProbe"]["initialDelaySeconds"] == 20
    assert container["livenessProbe"]["timeoutSeconds"] == 3
    assert container["resources"] == {"limits": {"cpu": "1500m", "memory": str(512 * 1024**2)},
                                      "requests": {"cpu": "250m", "memory": str(128 * 1024**2)}}
    assert app["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 2}}
    assert app["minReadySeconds"] == 10
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"] == [
        {"key": "zone", "operator": "In", "values": ["eu-1"]},
        {"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"},
        {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["old-box"]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]
    assert pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0][
        "topologyKey"] == "kubernetes.io/hostname"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "rack"
    assert app["template"]["metadata"]["annotations"] == {"com.example.team": "payments"}
    assert app["template"]["metadata"]["labels"]["network.dockyard.io/back"] == "true"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/var/lib/app"]["name"]]["persistentVolumeClaim"] == {"claimName": "data"}
    assert volumes[mounts["/tmp"]["name"]]["emptyDir"] == {"medium": "Memory", "sizeLimit": str(64 * 1024**2)}
    settings = volumes[mounts["/etc/app/settings.toml"]["name"]]["configMap"]
    assert settings == {"name": "settings", "items": [{"key": "settings", "path": "settings.toml", "mode": 0o440}]}
    assert volumes[mounts["/run/secrets/api.key"]["name"]]["secret"]["secretName"] == "apikey"
    assert "/run/secrets/dbpass" in mounts
    secrets = by_kind(objects, "Secret")
    assert base64.b64decode(secrets["dbpass"]["data"]["dbpass"]).decode() == stack["secrets"]["dbpass"]
    assert by_kind(objects, "ConfigMap")["settings"]["data"] == {"settings": "listen = 8000\n"}
    service = by_kind(objects, "Service")["app"]["spec"]
    assert service["type"] == "LoadBalancer"
    assert {(p["port"], p["targetPort"]) for p in service["ports"]} == {(8000, 8000), (443, 8443), (9100, 9100)}
    agent = by_kind(objects, "DaemonSet")["agent"]["spec"]
    assert agent["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert agent["template"]["spec"]["containers"][0]["livenessProbe"]["exec"]["command"] == [
        "/bin/sh", "-c", "curl -fs http://localhost:9000/ || exit 1"]
    policies = by_kind(objects, "NetworkPolicy")
    back = policies["network-back"]["spec"]
    assert back["policyTypes"] == ["Ingress", "Egress"]  # internal: members and DNS only
    assert policies["network-front"]["spec"]["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": {"network.dockyard.io/front": "true"}}}]}]
    assert policies["published-ports"]["spec"]["podSelector"]["matchExpressions"][0]["values"] == ["app"]
    assert by_kind(objects, "PersistentVolumeClaim")["data"]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert objects[0]["kind"] == "Namespace"
    noted = {path for path, _ in result["notes"]}
    assert {"version", "x-common", "services.app.ports[2]"} <= noted


def test_options_make_node_ports_claim_sizes_classes_and_pull_secrets():
    shop = read(STACKS["shop"])
    with pytest.raises(Refused, match=r"services\.api\.ports\[0\]: NodePort 8080 is outside 30000-32767"):
        render("shop", shop["compose"], shop["secrets"], publish="nodeport")
    shop["compose"]["services"]["api"]["ports"] = ["30080:8080"]
    result = render("shop", shop["compose"], shop["secrets"], publish="nodeport", volume_size="20Gi",
                    storage_class="fast", pull_secret="regcred")
    service = by_kind(result["objects"], "Service")["api"]["spec"]
    assert service["type"] == "NodePort" and service["ports"][0]["nodePort"] == 30080
    claim = by_kind(result["objects"], "PersistentVolumeClaim")["pgdata"]["spec"]
    assert claim["storageClassName"] == "fast" and claim["resources"]["requests"]["storage"] == "20Gi"
    for workload in by_kind(result["objects"], "Deployment").values():
        assert workload["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


@pytest.mark.parametrize("name", sorted(STACKS))
def test_a_second_render_is_byte_identical(name):
    assert to_yaml(rendered(name)[1]["objects"]) == to_yaml(rendered(name)[1]["objects"])
    assert "&id" not in to_yaml(rendered(name)[1]["objects"])  # no YAML anchors


PLANTED = {
    "include": "has no Kubernetes equivalent",
    "networks.shared": "external network",
    "networks.front.driver": "CNI",
    "networks.front.ipam": "CNI",
    "volumes.nfs": "storage classes",
    "services.app.stop_signal": "SIGTERM",
    "services.app.init": "init process",
    "services.app.dns": "cluster DNS",
    "services.app.logging": "node-level agent",
    "services.app.ulimits": "ulimits",
    "services.app.user": "numeric",
    "services.app.volumes[0]": "bind mount",
    "services.app.ports[0].host_ip": "no Kubernetes equivalent",
    "services.app.networks.front.aliases": "Service's name",
    "services.app.secrets[0].uid": "fsGroup",
    "services.app.deploy.placement.constraints[0]": "node.<attribute>",
    "services.app.deploy.placement.max_replicas_per_node": "cap them",
    "services.app.deploy.restart_policy.condition": "always restarts",
    "services.app.deploy.restart_policy.max_attempts": "without a limit",
    "services.app.deploy.rollback_config": "rollout undo",
    "services.app.deploy.update_config.failure_action": "never rolls back",
    "services.app.deploy.update_config.max_failure_ratio": "no failed pod",
    "services.app.deploy.resources.limits.pids": "no Kubernetes equivalent",
}


def test_every_planted_key_without_a_kubernetes_form_is_refused_with_its_path():
    planted = read(HERE / "refused" / "compose.yml")
    with pytest.raises(Refused) as refused:
        render("planted", planted["compose"], planted["secrets"])
    paths = dict(refused.value.refusals)
    assert set(paths) == set(PLANTED)
    for path, why in PLANTED.items():
        assert why in paths[path], path
    lossy = render("planted", planted["compose"], planted["secrets"], lossy=True)
    assert {path for path, _ in lossy["refused"]} == set(PLANTED)
    (container,) = by_kind(lossy["objects"], "Deployment")["app"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "app:1"


def dockyard(*args):
    return subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True, text=True, check=False)


def test_render_command_writes_valid_files_and_refuses_with_the_paths(tmp_path):
    out = tmp_path / "out"
    proc = dockyard("render", str(STACKS["shop"]), "--to", "kubernetes", "-o", str(out), "--k8s-version", "1.28",
                    "--var", "DOCKYARD_REGISTRY=10.0.0.11:5000")
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in out.iterdir())
    assert {(out / f).stat().st_mode & 0o777 for f in files} == {0o600}  # a pull Secret's file among them
    assert files[0] == "00-namespace-shop.yaml" and len(files) == 12
    (api_file,) = [f for f in files if f.endswith("-deployment-api.yaml")]
    api = yaml.safe_load((out / api_file).read_text())
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == "10.0.0.11:5000/shop-api:3.2"
    assert "note services.worker.deploy.restart_policy.condition" in proc.stderr
    assert "s3cret-db" not in proc.stdout + proc.stderr  # the secret's content is only in its Secret
    again = dockyard("render", str(STACKS["shop"]), "--var", "DOCKYARD_REGISTRY=10.0.0.11:5000")
    assert again.stdout == "".join(p.read_text() for p in sorted(out.iterdir()))
    refused = dockyard("render", str(HERE / "refused" / "compose.yml"), "-n", "planted")
    assert refused.returncode == 2 and refused.stdout == ""
    for path in PLANTED:
        assert f"refused {path}:" in refused.stderr
    lossy = dockyard("render", str(HERE / "refused" / "compose.yml"), "-n", "planted", "--lossy")
    assert lossy.returncode == 0 and "kind: Deployment" in lossy.stdout
    assert lossy.stderr.count("warning: left out") == len(PLANTED)


def test_the_registry_address_and_pull_login_come_from_the_inventory_as_the_registry_role_has_them(
        tmp_path, vaulted_inventory):
    password_file = vaulted_inventory(tmp_path / "inv", {"all": {"vars": {"registry_port": 5443}, "children": {
        "docker_hosts": {"hosts": {"node1": {"ansible_host": "10.0.0.11"}}},
        "registry": {"hosts": {"node1": None}}}}}, {"registry_password": "push-s3cret"})
    state = tmp_path / "state"

    def render_with(env):
        return subprocess.run([sys.executable, "-m", "dockyard", "render", str(STACKS["shop"]), "-i",
                               str(tmp_path / "inv"), "--vault-password-file", str(password_file)],
                              capture_output=True, text=True, check=False, env={**os.environ, **env})

    missing = render_with({"DOCKYARD_STATE_DIR": str(state)})  # no `dockyard up` has made the pull password yet
    assert missing.returncode == 2 and "registry-pull.password holds no pull password" in missing.stderr
    (state / "keys").mkdir(parents=True)
    (state / "keys" / "registry-pull.password").write_text("Pull4Password0From0The0Lookup000\n")  # as the role makes it
    proc = render_with({"DOCKYARD_STATE_DIR": str(state)})
    assert proc.returncode == 0, proc.stderr
    objects = list(yaml.safe_load_all(proc.stdout))
    pull = by_kind(objects, "Secret")["registry-pull"]
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    auths = yaml.safe_load(base64.b64decode(pull["data"][".dockerconfigjson"]))["auths"]
    # The pull account, as the registry role makes it; the push account's password is in no manifest.
    assert auths["10.0.0.11:5443"] == {"username": "dockyard-pull", "auth": auths["10.0.0.11:5443"]["auth"],
                                       "password": "Pull4Password0From0The0Lookup000"}
    for workload in by_kind(objects, "Deployment").values():
        pod = workload["spec"]["template"]["spec"]
        assert pod["imagePullSecrets"] == [{"name": "registry-pull"}]
        assert pod["containers"][0]["image"].startswith("10.0.0.11:5443/")
    assert "push-s3cret" not in proc.stdout + proc.stderr
