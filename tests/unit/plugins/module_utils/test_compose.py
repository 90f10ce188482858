import base64
import hashlib
from pathlib import Path

import pytest
import yaml
from ansible_collections.dockyard.fleet.plugins.filter.compose import compose_inline
from ansible_collections.dockyard.fleet.plugins.module_utils._compose import (
    NAMESPACE,
    SECRET_IN_ENVIRONMENT,
    ComposeError,
    Stack,
    duration_ns,
    parse_port,
    size_bytes,
    spec_hash,
)
from ansible_collections.dockyard.fleet.plugins.plugin_utils._kubernetes import render

SAMPLE = Path(__file__).resolve().parents[4] / "examples" / "stacks" / "web" / "compose.yml"


def sample():
    return compose_inline(yaml.safe_load(SAMPLE.read_text()), str(SAMPLE.parent))["compose"]


def test_sample_stack_becomes_the_specs_docker_stack_deploy_would_make():
    stack = Stack("web", sample())
    web, api = stack.services["web"], stack.services["api"]
    assert web["Name"] == "web_web" and web["Labels"] == {NAMESPACE: "web"}
    assert web["Mode"] == {"Global": {}} and api["Mode"] == {"Replicated": {"Replicas": 2}}
    assert web["EndpointSpec"] == {"Mode": "dnsrr", "Ports": [
        {"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 8080, "PublishMode": "host"}]}
    container = web["TaskTemplate"]["ContainerSpec"]
    assert container["Configs"] == [{"File": {"Name": "/www/index.html", "UID": "0", "GID": "0", "Mode": 0o444},
                                     "ConfigName": stack.configs["page"]["Name"]}]
    assert container["Healthcheck"]["Interval"] == 2 * 10**9
    assert web["TaskTemplate"]["Networks"] == [{"Target": "web_front", "Aliases": ["web"]}]
    assert api["TaskTemplate"]["ContainerSpec"]["Args"] == ["httpd", "-f", "-p", "9090", "-h", "/www"]
    assert api["TaskTemplate"]["Placement"] == {"MaxReplicas": 1}
    assert api["TaskTemplate"]["RestartPolicy"] == {"Condition": "on-failure", "Delay": 10**9}
    assert stack.networks["front"]["Driver"] == "overlay" and stack.networks["front"]["Attachable"] is True
    assert stack.ingress_ports() == []


def test_config_names_follow_their_content():
    one = Stack("web", sample()).configs["page"]["Name"]
    changed = sample()
    changed["configs"]["page"]["content"] += "<p>new</p>"
    two = Stack("web", changed).configs["page"]["Name"]
    assert one.startswith("web_page_") and two.startswith("web_page_") and one != two


def test_one_service_change_changes_only_its_hash():
    before = Stack("web", sample()).services
    edited = sample()
    edited["services"]["api"]["deploy"]["replicas"] = 3
    after = Stack("web", edited).services
    assert spec_hash(before["web"]) == spec_hash(after["web"])
    assert spec_hash(before["api"]) != spec_hash(after["api"])


def test_secret_contents_travel_apart_and_name_secrets_with_a_keyed_hash(tmp_path):
    (tmp_path / "db.txt").write_text("s3cret")
    compose = {"services": {"api": {"image": "x", "secrets": ["db", "token"]}},
               "secrets": {"db": {"file": "db.txt", "labels": {"a": "b"}}, "token": {"content": "t0ken"},
                           "ext": {"external": True}}}
    read = compose_inline(compose, str(tmp_path))
    assert read["secrets"] == {"db": "s3cret", "token": "t0ken"}
    assert "s3cret" not in str(read["compose"]) and "t0ken" not in str(read["compose"])
    one = Stack("shop", read["compose"], read["secrets"], "key-one").secrets
    assert one["ext"] == {"external": True, "Name": "ext"}
    assert one["db"]["Labels"] == {"a": "b", NAMESPACE: "shop"}
    assert base64.b64decode(one["db"]["Data"]) == b"s3cret"
    unkeyed = hashlib.sha256(b"s3cret").hexdigest()[:10]
    assert one["db"]["Name"].startswith("shop_db_") and not one["db"]["Name"].endswith(unkeyed)  # no guess check
    same = Stack("shop", read["compose"], read["secrets"], "key-one").secrets
    other_key = Stack("shop", read["compose"], read["secrets"], "key-two").secrets
    rotated = Stack("shop", read["compose"], dict(read["secrets"], db="new"), "key-one").secrets
    assert same["db"]["Name"] == one["db"]["Name"] != other_key["db"]["Name"]
    assert rotated["db"]["Name"] != one["db"]["Name"] and rotated["token"]["Name"] == one["token"]["Name"]
    with pytest.raises(ComposeError, match="need a key"):
        Stack("shop", read["compose"], read["secrets"])
    with pytest.raises(ComposeError, match="goes in the secrets option"):
        Stack("shop", dict(read["compose"], secrets={"db": {"content": "x"}}), {}, "k")
    with pytest.raises(ComposeError, match=r"secrets\.token needs"):
        Stack("shop", read["compose"], {"db": "x"}, "k")


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["services"]["web"].update(build="."), "services.web: build not supported"),
    (lambda c: c["services"]["web"].pop("image"), "services.web has no image"),
    (lambda c: c["services"]["web"].update(networks=["back"]), "'back' is not declared under top-level networks"),
    (lambda c: c["services"]["web"].update(configs=["nope"]), "'nope' is not declared under top-level configs"),
    (lambda c: c["services"]["api"].update(ports=["80:80"]), "endpoint_mode dnsrr cannot publish ports in ingress"),
    (lambda c: c["services"]["api"]["deploy"].update(mode="daemon"), "must be replicated or global"),
    (lambda c: c["services"]["web"].update(stop_grace_period="soon"), "'soon' is not a duration"),
])
def test_undeployable_compose_files_fail_naming_the_key(edit, message):
    compose = sample()
    edit(compose)
    with pytest.raises(ComposeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Stack("web", compose)


def test_ingress_ports_are_reported_for_the_ipvs_check():
    compose = sample()
    compose["services"]["api"].update(ports=["9091:9090"])
    compose["services"]["api"]["deploy"]["endpoint_mode"] = "vip"
    assert Stack("web", compose).ingress_ports() == [("api", 9091)]


def test_units():
    assert duration_ns("1m30s", "x") == 90 * 10**9 and duration_ns(2, "x") == 2 * 10**9
    assert size_bytes("512M", "x") == 512 * 1024**2 and size_bytes("1g", "x") == 1024**3
    assert parse_port("8080:80/udp", "x") == {"Protocol": "udp", "TargetPort": 80, "PublishedPort": 8080,
                                              "PublishMode": "ingress"}


def test_entrypoint_command_and_environment_become_command_args_and_env():
    container = Stack("s", {"services": {"app": {
        "image": "app:1", "entrypoint": "/bin/app --serve", "command": ["-p", 80],
        "environment": {"B": 2, "A": True, "C": None}}}}).services["app"]["TaskTemplate"]["ContainerSpec"]
    assert container["Command"] == ["/bin/app", "--serve"] and container["Args"] == ["-p", "80"]
    assert container["Env"] == ["A=true", "B=2", "C="]
    bare = Stack("s", {"services": {"app": {"image": "app:1"}}}).services["app"]["TaskTemplate"]["ContainerSpec"]
    assert not {"Command", "Args", "Env"} & set(bare)


def test_environment_values_that_look_like_secrets_are_named_for_both_renderings():
    compose = {"services": {"db": {"image": "db:1", "environment": [
        "POSTGRES_PASSWORD=s3cret", "POSTGRES_PASSWORD_FILE=/run/secrets/db", "API_TOKEN=", "MODE=prod"]},
        "api": {"image": "api:1", "environment": {"GITHUB_API_KEY": "k", "Client_Secret": "c"}}}}
    expected = ["services.db.environment.POSTGRES_PASSWORD", "services.api.environment.Client_Secret",
                "services.api.environment.GITHUB_API_KEY"]
    assert sorted(Stack("s", compose).secret_looking) == sorted(expected)
    notes = render("s", compose, {}, False)["notes"]
    assert sorted(path for path, what in notes if what == SECRET_IN_ENVIRONMENT) == sorted(expected)
