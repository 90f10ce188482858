import http.server
import os
import threading

from ansible_collections.dockyard.fleet.plugins.modules.docker_networks import default_encryption
from ansible_collections.dockyard.fleet.plugins.modules.engine_audit import (
    container_rows,
    daemon_rows,
    effective_settings,
    plain_api_ports,
    swarm_rows,
)
from ansible_collections.dockyard.fleet.plugins.modules.swarm_rotate import rotation

HARDENED = {"icc": False, "no-new-privileges": True, "userland-proxy": False, "log-level": "info",
            "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 16384, "Hard": 16384}}}
INFO = {"Driver": "overlay2", "LoggingDriver": "json-file", "SecurityOptions": ["name=seccomp,profile=default"],
        "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"], "IndexConfigs": {
            "docker.io": {"Secure": True}}}, "Swarm": {"LocalNodeState": "active"}}


def statuses(rows):
    return {row["id"]: row["status"] for row in rows}


def test_flags_on_dockerds_command_line_win_over_daemon_json():
    settings = effective_settings({"icc": False, "hosts": ["unix:///var/run/docker.sock"]},
                                  ["-H", "fd://", "--icc=true", "--userland-proxy=false", "--no-new-privileges"])
    assert settings == {"icc": True, "hosts": ["unix:///var/run/docker.sock", "fd://"], "userland-proxy": False,
                        "no-new-privileges": True}


def test_the_hardened_defaults_pass_section_2_and_the_docker_defaults_warn():
    hardened = statuses(daemon_rows(HARDENED, INFO, {"Options": {"com.docker.network.bridge.enable_icc": "false"}}))
    assert "WARN" not in hardened.values()
    assert hardened["2.15"] == "INFO"  # a swarm node: dockerd refuses live-restore
    plain = statuses(daemon_rows({}, dict(INFO, Swarm={}), None))
    assert {cis for cis, status in plain.items() if status == "WARN"} == {"2.2", "2.14", "2.15", "2.16"}


def test_icc_still_on_in_the_running_bridge_warns_until_dockerd_restarts():
    rows = statuses(daemon_rows(HARDENED, INFO, {"Options": {"com.docker.network.bridge.enable_icc": "true"}}))
    assert rows["2.2"] == "WARN"


def test_a_tcp_api_without_tlsverify_and_insecure_registries_warn():
    info = dict(INFO, RegistryConfig={"InsecureRegistryCIDRs": ["127.0.0.0/8", "10.0.0.0/8"],
                                      "IndexConfigs": {"10.0.0.5:5000": {"Secure": False}}})
    rows = statuses(daemon_rows(dict(HARDENED, hosts=["tcp://0.0.0.0:2375"]), info, None))
    assert rows["2.5"] == rows["2.7"] == "WARN"
    assert statuses(daemon_rows(dict(HARDENED, hosts=["tcp://0.0.0.0:2376"], tlsverify=True), INFO, None))["2.7"] \
        == "PASS"



def test_every_spelling_of_a_tcp_api_and_every_socket_dockerd_listens_on_count():
    argv = ["-Htcp://0.0.0.0:2375", "-H=unix:///run/a.sock", "--host", " 0.0.0.0:2376", "--host=fd://", "--icc"]
    assert effective_settings({}, argv) == {"hosts": ["tcp://0.0.0.0:2375", "unix:///run/a.sock", " 0.0.0.0:2376",
                                                      "fd://"], "icc": True}
    rows = {r["id"]: r for r in daemon_rows(dict(HARDENED, **effective_settings({}, argv)), INFO, None)}
    assert rows["2.7"]["status"] == "WARN" and "tcp://0.0.0.0:2375, 0.0.0.0:2376 WITHOUT" in rows["2.7"]["reason"]
    # Settings that say nothing of TCP, and dockerd answering its API on 2375 all the same: the socket tells.
    rows = {r["id"]: r for r in daemon_rows(dict(HARDENED, tlsverify=True), INFO, None, [2375])}
    assert rows["2.7"]["status"] == "WARN"
    assert rows["2.7"]["reason"] == "dockerd answers its API without TLS on port 2375"


class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        if self.server.api:
            self.send_header("Api-Version", "1.41")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_only_the_ports_where_the_engine_api_answers_without_tls_are_named():
    """This process listens on two ports: one answers as the Engine API does, the other as a published port."""
    servers = []
    for api in (True, False):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        server.api = api
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    try:
        assert plain_api_ports(os.getpid()) == [servers[0].server_address[1]]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()

def container(name, **host_config):
    return {"Name": "/" + name, "Config": {"User": "", "Healthcheck": {"Test": ["CMD", "true"]}},
            "HostConfig": {"Memory": 1 << 25, **host_config}, "Mounts": host_config.pop("Mounts", [])}


def test_each_container_fault_names_the_container():
    rows = {r["id"]: r for r in container_rows([
        container("ok"), container("priv", Privileged=True), container("hostnet", NetworkMode="host"),
        container("greedy", Memory=0), container("sock", Mounts=[{"Type": "bind", "Source": "/var/run/docker.sock"}]),
        container("etc", Mounts=[{"Type": "bind", "Source": "/etc/"}]),
        container("root", Mounts=[{"Type": "bind", "Source": "/"}])], HARDENED)}
    assert {cis: r["reason"] for cis, r in rows.items() if r["status"] == "WARN"} == {
        "5.4": "priv", "5.9": "hostnet", "5.10": "greedy", "5.31": "sock", "5.5": "etc, root"}
    assert rows["4.1"]["status"] == "INFO" and "USER" in rows["4.1"]["reason"]


def test_swarm_checks_read_on_managers_and_explained_on_workers():
    swarm = {"Spec": {"CAConfig": {"NodeCertExpiry": 90 * 86400 * 10**9}, "EncryptionConfig": {}}}
    nodes = [{"ManagerStatus": {}}, {"ManagerStatus": {}}, {}]
    rows = statuses(swarm_rows(INFO, True, swarm, nodes, [{"Name": "web_front", "Options": {}}], None))
    assert rows["7.2"] == "WARN"  # two managers: no majority survives losing one
    assert rows["7.4"] == "WARN" and rows["7.8"] == "PASS"
    kernel = swarm_rows(INFO, True, swarm, nodes[:1], [{"Name": "web_front", "Options": {}}], "AEAD not found")
    assert statuses(kernel)["7.4"] == "INFO" and "AEAD not found" in kernel[3]["reason"]
    worker = swarm_rows(INFO, True, None, [], [], None)
    assert {r["status"] for r in worker[1:]} == {"INFO"} and statuses(worker)["7.1"] == "PASS"
    assert statuses(swarm_rows({"Swarm": {"LocalNodeState": "active"}}, False, None, [], [], None))["7.1"] == "WARN"


def test_rotation_asks_for_new_tokens_and_a_new_ca_without_touching_the_rest_of_the_spec():
    swarm = {"Version": {"Index": 42}, "Spec": {"Name": "default", "CAConfig": {"NodeCertExpiry": 1}}}
    query, spec = rotation(swarm, ["ca", "tokens"])
    assert query == {"version": "42", "rotateWorkerToken": "true", "rotateManagerToken": "true"}
    assert spec == {"Name": "default", "CAConfig": {"NodeCertExpiry": 1, "ForceRotate": 1}}
    assert swarm["Spec"]["CAConfig"] == {"NodeCertExpiry": 1}


class Kernel:
    """What default_encryption needs of a module: the ESP probe's answer, and warnings."""

    def __init__(self, rc):
        self.rc, self.warnings = rc, []

    def run_command(self, argv):
        return self.rc, "", "" if self.rc == 0 else "Error: Requested AEAD algorithm not found."

    def warn(self, message):
        self.warnings.append(message)


def networks(*entries):
    return [{"name": name, "driver": driver, "encrypted": encrypted} for name, driver, encrypted in entries]


def test_overlays_that_leave_encryption_out_are_encrypted_where_the_kernel_can():
    params = {"scope": "swarm", "encrypt_by_default": True,
              "networks": networks(("mesh", None, None), ("plain", "overlay", False))}
    result = {}
    default_encryption(Kernel(0), params, result)
    assert [n["encrypted"] for n in params["networks"]] == [True, False] and result == {}


def test_where_the_kernel_cannot_they_are_made_unencrypted_with_the_reason():
    params = {"scope": "swarm", "encrypt_by_default": True, "networks": networks(("mesh", None, None))}
    result, kernel = {}, Kernel(2)
    default_encryption(kernel, params, result)
    assert params["networks"][0]["encrypted"] is False
    assert result["unencrypted"] == {"networks": ["mesh"], "reason": "Error: Requested AEAD algorithm not found."}
    assert "mesh" in kernel.warnings[0]
