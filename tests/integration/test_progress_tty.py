"""The live progress view on a real terminal (a pty), and plain lines with CI=true."""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios

import pytest

pytestmark = pytest.mark.lab


def run_in_terminal(argv, env):
    """Run ``argv`` with a 120x40 pty as its terminal and return everything it drew."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait() == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def test_live_view_redraws_one_line_per_host_and_ends_with_the_table(lab):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    screen = run_in_terminal([sys.executable, "-m", "dockyard", "up", "-i", str(lab / "hosts.yml")], env)
    assert "\x1b[" in screen  # drawn in place, not scrolled
    clocks = {float(value) for value in re.findall(r"(\d+\.\d)s  task: ", screen)}
    assert len(clocks) >= 3  # the clock moves, during long tasks too
    for host in ("node1", "node2", "node3"):
        assert re.search(rf"  {host} +ok=\d+ changed=\d+ +\S", screen)  # one live line per host
    assert re.search(r"HOST +OK +CHANGED +FAILED +UNREACH +SKIPPED +TIME", screen)
    assert re.search(r"\nnode1 +\d+ +\d+ +0 +0 +\d+ +[\d.]+s", screen.replace("\r", ""))


def test_ci_gets_plain_lines_even_on_a_terminal(lab):
    env = dict(os.environ, CI="true")
    screen = run_in_terminal([sys.executable, "-m", "dockyard", "up", "-i", str(lab / "hosts.yml"),
                              "--tags", "preflight"], env)
    assert "\x1b[" not in screen
    assert re.search(r"\n  node1 +ok +Read the host's OS, architecture, init system, user and Python \([\d.]+s\)",
                     screen.replace("\r", ""))
    assert re.search(r"HOST +OK +CHANGED", screen)
