"""Settings that come from the machine: DuckDB's default memory limit."""

import pytest

from crm.config import MEMORY_SHARE, Settings, default_memory_limit, machine_memory_bytes

GIB = 2**30


def test_the_default_memory_limit_is_a_share_of_the_machine(monkeypatch):
    assert default_memory_limit(24 * GIB) == f"{int(24 * MEMORY_SHARE)}GiB"
    assert default_memory_limit(int(1.5 * GIB)) == "1GiB"  # never below 1 GiB
    assert default_memory_limit(0) == "4GB"  # the machine did not say

    monkeypatch.delenv("CRM_MEMORY_LIMIT", raising=False)
    assert Settings.from_env().memory_limit == default_memory_limit()
    monkeypatch.setenv("CRM_MEMORY_LIMIT", "3GB")  # the operator's value wins
    assert Settings.from_env().memory_limit == "3GB"


def test_a_container_limit_lower_than_the_machine_counts(tmp_path):
    physical = machine_memory_bytes(())
    assert physical and physical > GIB
    unlimited = tmp_path / "memory.max"
    unlimited.write_text("max\n")
    assert machine_memory_bytes((str(unlimited),)) == physical
    limited = tmp_path / "memory.limit_in_bytes"
    limited.write_text(f"{GIB}\n")
    assert machine_memory_bytes((str(tmp_path / "missing"), str(limited))) == GIB
    # a cgroup "limit" above the machine's memory (v1's unlimited) does not count
    huge = tmp_path / "huge"
    huge.write_text("9223372036854771712\n")
    assert machine_memory_bytes((str(huge),)) == physical


def test_the_warehouse_mode_is_an_octal_mode_others_may_only_read(monkeypatch):
    monkeypatch.delenv("CRM_WAREHOUSE_MODE", raising=False)
    assert Settings.from_env().warehouse_mode == 0o644
    cases = [("0640", 0o640), ("600", 0o600), ("0o644", 0o644), ("rw-r--r--", None), ("0664", None)]
    for value, mode in cases:
        monkeypatch.setenv("CRM_WAREHOUSE_MODE", value)
        if mode is None:  # not octal digits, or a group that may write
            with pytest.raises(SystemExit, match="CRM_WAREHOUSE_MODE must be an octal file mode"):
                Settings.from_env()
        else:
            assert Settings.from_env().warehouse_mode == mode
    for bad in ("0755", "0444", "1644"):  # executable, owner cannot write, beyond 0777
        monkeypatch.setenv("CRM_WAREHOUSE_MODE", bad)
        with pytest.raises(SystemExit):
            Settings.from_env()
