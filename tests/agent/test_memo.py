"""UseMemo: memoised across uses, holding only what the latest use asked for."""

import ipaddress

import pytest

from ip_masq_agent.config import ConfigError, new_cidr_memo, parse_config
from ip_masq_agent.memo import UseMemo


def test_a_use_keeps_only_its_own_keys_and_reuses_the_previous_ones() -> None:
    calls: list[int] = []

    def square(n: int) -> int:
        calls.append(n)
        return n * n

    memo = UseMemo(square)
    with memo.use():
        assert [memo(n) for n in (1, 2, 2, 3)] == [1, 4, 4, 9]
    with memo.use():
        assert [memo(n) for n in (3, 4)] == [9, 16]
    assert calls == [1, 2, 3, 4]  # 3 came from the previous use
    assert len(memo) == 2  # 1 and 2 are gone with the use that asked for them
    assert memo(1) == 1 and len(memo) == 2  # outside a use: computed, not kept


def test_a_use_that_raises_leaves_the_previous_one_in_place() -> None:
    memo = UseMemo(str)
    with memo.use():
        memo(1)
    with pytest.raises(ValueError), memo.use():
        memo(2)
        raise ValueError
    assert len(memo) == 1


def _config(generation: int, count: int) -> str:
    cidrs = ", ".join(
        f"{ipaddress.IPv4Address(generation << 24) + (i << 8)}/24" for i in range(count)
    )
    return f"nonMasqueradeCIDRs: [{cidrs}]\ncidrLimit: {count}\n"


def test_the_agents_cidr_memo_is_bounded_by_the_current_config_not_by_history() -> None:
    memo = new_cidr_memo()
    for generation in range(11, 16):
        config = parse_config(_config(generation, 300), enable_ipv6=False, cidr_memo=memo)
        assert len(memo) == 300
    with pytest.raises(ConfigError):
        parse_config(_config(20, 300) + "cidrLimit: 2\n", enable_ipv6=False, cidr_memo=memo)
    again = parse_config(_config(15, 300), enable_ipv6=False, cidr_memo=memo)
    # The networks of the config still followed are shared, not parsed again.
    pairs = zip(again.non_masquerade_cidrs, config.non_masquerade_cidrs, strict=True)
    assert all(a is b for a, b in pairs)
    assert again == parse_config(_config(15, 300), enable_ipv6=False)
