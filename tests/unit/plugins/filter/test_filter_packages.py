from ansible_collections.dockyard.fleet.plugins.filter.packages import FilterModule, packages_to_install

DPKG = (
    "python3-apt 2.6.0 ii \n"
    "docker.io 20.10.24+dfsg1-1+deb12u1 ii \n"
    "containerd 1.6.20~ds1-1+b1 rc \n"  # removed, config files left: not installed
)


def test_installed_packages_need_nothing():
    assert packages_to_install(DPKG, ["docker.io", "python3-apt"]) == []


def test_missing_and_config_only_packages_need_install():
    assert packages_to_install(DPKG, ["containerd", "docker.io", "runc"]) == ["containerd", "runc"]


def test_a_pin_to_another_version_needs_install():
    assert packages_to_install(DPKG, ["docker.io"], "20.10.24+dfsg1-1+deb12u1") == []
    assert packages_to_install(DPKG, ["docker.io"], "20.10.5") == ["docker.io"]


def test_a_pin_is_the_apt_version_glob():
    assert packages_to_install(DPKG, ["docker.io"], "20.10.24*") == []
    assert packages_to_install(DPKG, ["docker.io"], "20.10.2") == ["docker.io"]
    assert packages_to_install("docker-ce 5:27.3.1-1~debian.12~bookworm ii \n", ["docker-ce"], "5:27.3.1*") == []


def test_empty_output_means_everything_is_missing():
    assert packages_to_install("", ["docker.io"]) == ["docker.io"]


def test_filter_is_registered():
    assert FilterModule().filters()["packages_to_install"] is packages_to_install
