import ipaddress
import re
from pathlib import Path

import pytest
import yaml

from dockyard import lab
from dockyard.errors import UsageError
from dockyard.lab import image


def spec(hosts=3, managers=1, name="t"):
    return lab.LabSpec(name, hosts, managers, Path("/tmp/inv"))


@pytest.mark.parametrize(
    ("hosts", "managers", "fragment"),
    [(3, 2, "odd number of managers"), (3, 5, "no more than --hosts"), (0, 1, "1 to 50 hosts"),
     (51, 1, "1 to 50 hosts"), (3, 0, "odd number")],
)
def test_bad_shapes_are_refused_with_the_flag_named(hosts, managers, fragment):
    with pytest.raises(UsageError, match=fragment):
        spec(hosts, managers)


@pytest.mark.parametrize("name", ["", "1lab", "a b", "x;rm"])
def test_bad_names_are_refused(name):
    with pytest.raises(UsageError, match="--name"):
        spec(name=name or "-")


def test_default_managers_keep_quorum_odd():
    assert lab.default_managers(3) == 1
    assert lab.default_managers(5) == 3
    assert lab.default_managers(10) == 3


def test_inventory_has_the_design_groups_and_fixed_addresses():
    s = spec(5, 3)
    hosts = s.layout(ipaddress.ip_network("172.29.4.0/24"))
    inv = yaml.safe_load(lab.render_inventory(s, hosts))["all"]
    children = inv["children"]
    assert children["docker_hosts"]["hosts"] == {
        f"node{i}": {"ansible_host": f"172.29.4.{10 + i}"} for i in range(1, 6)
    }
    assert list(children["swarm_managers"]["hosts"]) == ["node1", "node2", "node3"]
    assert list(children["swarm_workers"]["hosts"]) == ["node4", "node5"]
    assert list(children["registry"]["hosts"]) == ["node1"]
    assert list(children["builders"]["hosts"]) == ["node1"]
    assert inv["vars"]["ansible_ssh_private_key_file"] == "/tmp/inv/id_ed25519"
    assert hosts[0].container == "dockyard-t-node1" and hosts[0].volumes == {
        "dockyard-t-node1-docker": "/var/lib/docker", "dockyard-t-node1-srv": "/srv"}


def test_pick_subnet_skips_every_overlap():
    used = [ipaddress.ip_network(n) for n in ("172.17.0.0/16", "172.29.0.0/24", "172.29.1.0/25")]
    assert str(lab.pick_subnet(used)) == "172.29.2.0/24"


def test_recipe_hash_is_stable_and_follows_the_recipe(monkeypatch):
    first = lab.recipe_hash()
    assert first == lab.recipe_hash() and len(first) == 12
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "vim"))
    assert lab.recipe_hash() != first


def test_apt_mirror_reads_deb822_then_legacy(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    assert lab.apt_mirror(tmp_path) == lab.DEFAULT_MIRROR
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://legacy.example/debian bookworm main\n")
    assert lab.apt_mirror(tmp_path) == "http://legacy.example/debian"
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\n# a comment: here\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
    )
    assert lab.apt_mirror(tmp_path) == "http://mirror.example/debian"


def test_customize_rootfs_masks_units_and_drops_shared_host_keys(tmp_path):
    for rel in ("etc/ssh", "etc/systemd/system", "root", "var/cache/apt/archives", "var/lib/apt/lists"):
        (tmp_path / rel).mkdir(parents=True)
    (tmp_path / "etc/ssh/ssh_host_ed25519_key").write_text("secret")
    (tmp_path / "etc/machine-id").write_text("0123")
    (tmp_path / "var/cache/apt/archives/x.deb").write_text("deb")
    lab.customize_rootfs(tmp_path)
    assert not list((tmp_path / "etc/ssh").glob("ssh_host_*"))
    assert (tmp_path / "etc/machine-id").read_text() == ""
    assert (tmp_path / "etc/systemd/system/getty@tty1.service").readlink() == Path("/dev/null")
    assert "ssh-keygen -A" in (tmp_path / "etc/systemd/system/ssh.service.d/dockyard-hostkeys.conf").read_text()
    assert not (tmp_path / "var/cache/apt/archives/x.deb").exists()
    assert (tmp_path / "root/.ssh").stat().st_mode & 0o777 == 0o700


def test_releases_are_one_for_all_hosts_or_one_per_host():
    assert [h.release for h in spec(3).layout(ipaddress.ip_network("172.29.4.0/24"))] == ["bookworm"] * 3
    mixed = lab.LabSpec("t", 3, 1, Path("/tmp/inv"), ("bookworm", "trixie", "trixie"))
    assert [(h.name, h.release) for h in mixed.layout(ipaddress.ip_network("172.29.4.0/24"))] == [
        ("node1", "bookworm"), ("node2", "trixie"), ("node3", "trixie")]
    assert lab.LabSpec("t", 2, 1, Path("/tmp/inv"), ("trixie",)).host_releases() == ["trixie", "trixie"]


@pytest.mark.parametrize(("releases", "fragment"), [
    (("bookworm", "trixie"), "one per host in host order (3 of them)"),
    (("buster",), "unknown: buster"),
])
def test_bad_releases_are_refused_naming_the_flag(releases, fragment):
    with pytest.raises(UsageError, match=r"--release .*" + re.escape(fragment)):
        lab.LabSpec("t", 3, 1, Path("/tmp/inv"), releases)


def test_each_release_has_an_image_of_its_own():
    assert image.image_tag("trixie").startswith("dockyard/lab-host:trixie-")
    assert lab.recipe_hash("trixie") != lab.recipe_hash("bookworm")
