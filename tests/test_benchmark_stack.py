"""The benchmark's generated stack really is the size its figures claim (no timing here)."""

from benchmarks.plan import large_stack
from components.dns.records import resolve
from tools.review import stackfile


def test_large_stack_has_1000_records_and_20_hosts(tmp_path):
    path = large_stack(tmp_path / "Pulumi.prod.yaml")
    cfg = stackfile.read_stack("prod", str(path)).config()  # a prod file: the only stack names
    assert len(cfg.hosts) == 20
    assert len(resolve(cfg)) == 1000
