from ansible_collections.dockyard.fleet.plugins.module_utils._apt import apt_sources, release_sources

DEB822 = """Types: deb
URIs: http://mirror.example/debian
# a comment: here
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def write(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "node.list").write_text(
        "deb [arch=amd64 signed-by=/k/node.gpg] https://nodesource.example/node nodistro main\n")
    (tmp_path / "sources.list").write_text("# deb http://old.example/debian bookworm main\n"
                                           "deb [arch=amd64] http://legacy.example/debian bookworm-backports main\n")


def test_both_formats_are_read_and_deb_src_and_comments_are_not(tmp_path):
    write(tmp_path)
    assert [(s["uri"], s["suites"], s["signed_by"]) for s in apt_sources(str(tmp_path))] == [
        ("http://mirror.example/debian", ["bookworm", "bookworm-updates"],
         "/usr/share/keyrings/debian-archive-keyring.gpg"),
        ("http://mirror.example/debian-security", ["bookworm-security"], ""),
        ("http://legacy.example/debian", ["bookworm-backports"], ""),
        ("https://nodesource.example/node", ["nodistro"], "/k/node.gpg"),
    ]


def test_the_release_sources_are_moved_to_another_release_and_the_rest_left_out(tmp_path):
    write(tmp_path)
    assert release_sources("bookworm", "trixie", str(tmp_path)) == [
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian trixie "
        "main contrib",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian "
        "trixie-updates main contrib",
        "deb http://mirror.example/debian-security trixie-security main",
        "deb http://legacy.example/debian trixie-backports main",
    ]
    assert release_sources("buster", "trixie", str(tmp_path)) == []
