import pytest
from ansible_collections.dockyard.fleet.plugins.module_utils import _docker_api as api


@pytest.mark.parametrize(
    ("server", "server_min", "expected"),
    [("1.41", "1.12", "1.41"), ("1.43", None, "1.43"), ("1.51", "1.24", api.MAX_API_VERSION), (None, None, "1.41")],
)
def test_negotiation_speaks_the_newest_common_version(server, server_min, expected):
    assert api.negotiate_api_version(server, server_min) == expected


def test_too_old_engine_is_refused_with_the_fix():
    with pytest.raises(api.DockerError, match=r"too old.*Upgrade Docker Engine"):
        api.negotiate_api_version("1.40")


def test_engine_that_needs_a_newer_client_is_refused():
    with pytest.raises(api.DockerError, match="Upgrade the dockyard collection"):
        api.negotiate_api_version("1.60", "1.50")


def test_missing_socket_says_where_and_what_to_do(tmp_path):
    client = api.DockerAPI("unix://" + str(tmp_path / "docker.sock"), timeout=2)
    with pytest.raises(api.DockerUnreachable, match=r"not answering on .*docker.sock.*Is dockerd running"):
        client.info()


def test_wait_until_ready_gives_up_with_the_last_error(tmp_path):
    client = api.DockerAPI(str(tmp_path / "docker.sock"))
    with pytest.raises(api.DockerUnreachable, match=r"waited 1s"):
        client.wait_until_ready(1, interval=0.2)
