"""Benchmark 7's table: one row per run, the agent's share beside the floor, the goals judged."""

from testbed.bench.report_stages import stages_section


def _record(backend: str, cidrs: int, write: float, floor: float) -> dict[str, object]:
    stages = {"load": [0.05], "plan": [0.01], "render": [0.02], "write": [write], "verify": [0.0]}
    total = sum(values[0] for values in stages.values())
    return {
        "backend": backend,
        "family": "ipv4",
        "cidrs": cidrs,
        "stages": stages | {"total": [total]},
        "floor": floor,
    }


def test_rows_ratio_and_goals() -> None:
    records = [
        _record("nftables", 10000, 0.1, 0.1),
        _record("iptables-nft", 10000, 0.5, 0.3),
        {"backend": "nftables", "family": "ipv4", "cidrs": 50000, "refused": "too many"},
    ]
    lines = stages_section(records)
    rows = [line for line in lines if line.startswith("| nftables") or line.startswith("| iptab")]
    assert rows[0] == (
        "| nftables | ipv4 | 10,000 | 0.050 | 0.010 | 0.020 | 0.100 | 0.000 | 0.180"
        " | 0.100 | 0.080 | 1.80 |"
    )
    assert "refused: too many" in rows[2]
    assert any(
        line.startswith("A refused row is the agent's own refusal, by design") for line in lines
    )
    assert "- nftables ipv4 10,000: total under 0.3 s: **met**" in lines
    # 0.58 s against a 0.3 s floor: more than 1.5x.
    assert "- iptables-nft ipv4 10,000: within 1.5x the floor: **not met**" in lines
