"""The benchmark keeps working: its whole sequence on 2 hosts (the real figures come from `make bench`)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import bench

pytestmark = pytest.mark.lab


def test_bench_runs_every_measure_on_two_hosts(tmp_path):
    runs = bench.bench(2, tmp_path)
    bare, noop, change, limit = (runs[k] for k in ("bare_to_stack", "noop", "one_change", "physical_limit"))
    assert set(bare["phases"]) >= {"preflight", "engine", "registry", "images", "swarm", "stack"}
    assert bare["changed"] > 10 and noop["changed"] == 0 and change["changed"] == 1  # the api service only
    assert sum(bare["phases"].values()) <= bare["seconds"] * 1.05
    assert set(limit["phases"]) == {"engine", "images", "swarm", "stack"}
    assert runs["ratio_bare_to_limit"] == round(bare["seconds"] / limit["seconds"], 2) > 1
    assert bench.table({2: runs}).splitlines()[1].split()[0] == "2"
