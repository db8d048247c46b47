"""The iptables backend's decisions with a scripted command runner (the kernel test runs it)."""

from collections.abc import Sequence

import pytest

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.backends.iptables import IptablesBackend, owned_rules
from ip_masq_agent.backends.iptables_tool import parse_iptables_tool, parse_iptables_version
from ip_masq_agent.backends.migration import OtherBackends, remove_other_backends
from ip_masq_agent.backends.registry import (
    BackendSettings,
    UnknownBackendError,
    default_backend_registry,
)
from ip_masq_agent.commands import CommandResult
from ip_masq_agent.config import default_config
from ip_masq_agent.iptables_payload import jump_rule, jump_rule_line
from ip_masq_agent.iptables_rules import parse_listed, parse_rule
from ip_masq_agent.rules import DesiredRules, Masquerade, plan_rules

CHAIN = "IP-MASQ-AGENT"
JUMP = jump_rule_line(CHAIN)


class ScriptedRunner:
    """Answers `--version` and `-save` from fields; records every call and its stdin."""

    def __init__(self, version: str = "iptables v1.8.9 (nf_tables)", saved: str = "") -> None:
        self.version = version
        self.saved = saved
        self.calls: list[tuple[tuple[str, ...], str | None]] = []
        self.restore_status = 0

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        self.calls.append((tuple(args), stdin))
        if args[-1] == "--version":
            return CommandResult(tuple(args), 0, self.version + "\n", "")
        if args[0].endswith("-save"):
            return CommandResult(tuple(args), 0, self.saved, "")
        if self.restore_status:
            return CommandResult(tuple(args), 4, "", "iptables-restore: line 3 failed\n")
        return CommandResult(tuple(args), 0, "", "")

    def restores(self) -> list[str | None]:
        return [stdin for args, stdin in self.calls if args[0].endswith("-restore")]


def _desired(random_fully: bool = True) -> DesiredRules:
    return plan_rules(
        default_config(), chain=CHAIN, enable_ipv6=False, masquerade=Masquerade(random_fully)
    )


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        pytest.param("iptables v1.8.9 (nf_tables)", True, id="1.8.9"),
        pytest.param("iptables v1.6.2", True, id="1.6.2"),
        pytest.param("iptables v1.6.1", False, id="1.6.1"),
        pytest.param("iptables v1.4.21", False, id="1.4.21"),
        pytest.param("garbage", True, id="unknown-assumed-modern"),
    ],
)
def test_random_fully_follows_the_binary_version(version: str, supported: bool) -> None:
    run = ScriptedRunner(version=version)
    backend = default_backend_registry().create("iptables", BackendSettings(CHAIN, ("ipv4",), run))
    assert [args for args, _ in run.calls] == [("iptables", "--version")]  # asked at start
    payload = backend.render(_desired())
    assert payload.endswith(
        '(must be last in chain)" -j MASQUERADE'
        + (" --random-fully" if supported else "")
        + "\nCOMMIT\n"
    )
    backend.render(_desired())
    assert len(run.calls) == 1  # and never again, not while rendering


@pytest.mark.parametrize(
    ("version", "cached"),
    [
        pytest.param("iptables v1.8.9 (nf_tables)", True, id="nf_tables"),
        pytest.param("iptables v1.8.9 (legacy)", False, id="legacy"),
    ],
)
def test_plain_iptables_on_an_nf_tables_node_uses_the_generation_check(
    version: str, cached: bool
) -> None:
    run = ScriptedRunner(version=version)
    settings = BackendSettings(CHAIN, ("ipv4",), run, generation=lambda: 7)
    backend = default_backend_registry().create("iptables", settings)
    assert backend.name == "iptables"
    backend.observe()
    run.calls.clear()
    backend.observe()  # an idle resync: the generation stood still
    assert (run.calls == []) is cached


def test_parse_version() -> None:
    assert parse_iptables_version("ip6tables-legacy v1.8.9 (legacy)") == (1, 8, 9)
    assert parse_iptables_version("nope") is None
    assert parse_iptables_tool("iptables v1.8.9 (nf_tables)").nf_tables
    assert not parse_iptables_tool("iptables v1.8.9 (legacy)").nf_tables


SAVED = f"""*nat
:POSTROUTING ACCEPT [0:0]
:{CHAIN} - [0:0]
:{CHAIN}-X - [0:0]
-A POSTROUTING -j KUBE-POSTROUTING
{JUMP}
-A POSTROUTING -d 10.1.0.0/16 -j {CHAIN}
{JUMP}
-A {CHAIN} -d 10.0.0.0/8 -j RETURN
-A {CHAIN}-X -j RETURN
COMMIT
"""


def test_owned_rules_picks_only_our_chain_and_jumps() -> None:
    owned = owned_rules(SAVED, CHAIN)
    assert owned.chain_lines == (f":{CHAIN} - [0:0]", f"-A {CHAIN} -d 10.0.0.0/8 -j RETURN")
    other = parse_rule(f"-A POSTROUTING -d 10.1.0.0/16 -j {CHAIN}")
    assert owned.jumps == (jump_rule(CHAIN), other, jump_rule(CHAIN))
    assert parse_rule(JUMP) == jump_rule(CHAIN)  # the listing parses into the rule we build


def test_apply_writes_chain_and_jump_fixes_in_one_transaction() -> None:
    run = ScriptedRunner(saved=SAVED)
    backend = IptablesBackend(flavor="iptables-legacy", chain=CHAIN, families=("ipv4",), run=run)
    backend.apply(_desired())
    (payload,) = run.restores()
    chain_payload = backend.render(_desired()).removesuffix("COMMIT\n")
    assert payload == (
        f"{chain_payload}-D POSTROUTING -d 10.1.0.0/16 -j {CHAIN}\n-D{JUMP.removeprefix('-A')}\n"
        "COMMIT\n"
    )
    # A save to see the jumps and one restore: no version probe while applying or rendering.
    assert {args[0] for args, _ in run.calls} == {
        "iptables-legacy-restore",
        "iptables-legacy-save",
    }


def test_apply_adds_the_jump_when_missing_and_nothing_when_present() -> None:
    run = ScriptedRunner(saved=f"*nat\n:{CHAIN} - [0:0]\nCOMMIT\n")
    backend = IptablesBackend(flavor="iptables", chain=CHAIN, families=("ipv4",), run=run)
    chain_payload = backend.render(_desired()).removesuffix("COMMIT\n")
    backend.apply(_desired())
    assert run.restores() == [f"{chain_payload}{JUMP}\nCOMMIT\n"]
    run.calls.clear()
    run.saved = f"*nat\n:{CHAIN} - [0:0]\n{JUMP}\nCOMMIT\n"
    backend.apply(_desired())
    assert run.restores() == [f"{chain_payload}COMMIT\n"]  # just the chain payload


def test_apply_unchanged_builds_the_jump_fixes_from_the_last_read_or_write() -> None:
    run = ScriptedRunner(saved=SAVED)
    backend = IptablesBackend(flavor="iptables-nft", chain=CHAIN, families=("ipv4",), run=run)
    chain_payload = backend.render(_desired()).removesuffix("COMMIT\n")
    backend.apply_unchanged(_desired())  # nothing read yet: it reads first
    assert [args[0] for args, _ in run.calls] == ["iptables-nft-save", "iptables-nft-restore"]
    run.calls.clear()
    backend.apply_unchanged(_desired())  # our write left exactly the one jump: no read, no fix
    assert [args[0] for args, _ in run.calls] == ["iptables-nft-restore"]
    assert run.restores() == [f"{chain_payload}COMMIT\n"]
    run.calls.clear()
    run.saved = f"*nat\n:{CHAIN} - [0:0]\nCOMMIT\n"  # someone removed the jump; a look sees it
    backend.observe()
    run.calls.clear()
    backend.apply_unchanged(_desired())
    assert run.restores() == [f"{chain_payload}{JUMP}\nCOMMIT\n"]
    run.calls.clear()
    run.restore_status = 4  # a failed write leaves the jumps unknown: the next apply reads
    with pytest.raises(ApplyError):
        backend.apply_unchanged(_desired())
    run.restore_status = 0
    run.calls.clear()
    backend.apply_unchanged(_desired())
    assert [args[0] for args, _ in run.calls] == ["iptables-nft-save", "iptables-nft-restore"]


def canonical_rule(line: str) -> str:
    listed = parse_listed(line)
    assert listed is not None
    return listed.canonical()


def test_canonical_rules_iron_out_option_order_and_rounding_only() -> None:
    written = (
        f'-A {CHAIN} -m comment --comment "a b" -j MASQUERADE --random-fully -p tcp'
        " -m statistic --mode random --probability 0.49393326592517695 --to-ports 1024-2000"
    )
    saved = (
        f'-A {CHAIN} -p tcp -m comment --comment "a b" -m statistic --mode random'
        " --probability 0.49393326603 -j MASQUERADE --to-ports 1024-2000 --random-fully"
    )
    assert canonical_rule(written) == canonical_rule(saved)
    assert canonical_rule(written) != canonical_rule(saved.replace("1024-2000", "1024-2001"))
    assert canonical_rule(written) != canonical_rule(saved.replace("0.4939", "0.4940"))
    assert canonical_rule(f":{CHAIN} - [0:0]") == canonical_rule(f":{CHAIN} - [5:300]")
    assert canonical_rule(f"-A {CHAIN} -d ::ffff:1.2.3.4/128 -j RETURN") == canonical_rule(
        f"-A {CHAIN} -d ::ffff:102:304/128 -j RETURN"
    )


def test_a_refused_payload_is_an_apply_error_naming_the_tool() -> None:
    run = ScriptedRunner()
    run.restore_status = 4
    backend = IptablesBackend(flavor="iptables", chain=CHAIN, families=("ipv4",), run=run)
    with pytest.raises(
        ApplyError, match=r"^iptables-restore -w --noflush: iptables-restore: line 3"
    ):
        backend.apply(_desired())


def test_cleanup_removes_jumps_and_chain_and_is_idempotent() -> None:
    run = ScriptedRunner(saved=SAVED)
    backend = IptablesBackend(flavor="iptables", chain=CHAIN, families=("ipv4",), run=run)
    backend.cleanup()
    assert run.restores() == [
        f"*nat\n-D{JUMP[2:]}\n-D POSTROUTING -d 10.1.0.0/16 -j {CHAIN}\n-D{JUMP[2:]}\n"
        f"-F {CHAIN}\n-X {CHAIN}\nCOMMIT\n"
    ]
    run.calls.clear()
    run.saved = "*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
    backend.cleanup()
    assert run.restores() == []


def test_registry_builds_each_flavour_and_rejects_unknown_names() -> None:
    registry = default_backend_registry()
    settings = BackendSettings(CHAIN, ("ipv4",), ScriptedRunner())
    assert [registry.create(n, settings).name for n in registry.names()] == [
        "nftables",  # auto: an empty node is taken as nf_tables-based
        "iptables",
        "iptables-legacy",
        "iptables-nft",
        "nftables",
    ]
    with pytest.raises(UnknownBackendError, match="want one of auto, iptables"):
        registry.create("pf", settings)


class _NodeWithoutNft(ScriptedRunner):
    """A node with iptables (nothing saved) but no `nft` binary at all."""

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        if args[0] == "nft":
            self.calls.append((tuple(args), stdin))
            return CommandResult(tuple(args), 127, "", "nft: command not found")
        return super().__call__(args, stdin=stdin)


def test_a_missing_tool_of_another_backend_does_not_stop_the_agent() -> None:
    run = _NodeWithoutNft()
    settings = BackendSettings(CHAIN, ("ipv4",), run)
    registry = default_backend_registry()
    active = registry.create("iptables-nft", settings)
    assert remove_other_backends(active, settings, registry) == []
    # Only a version probe of nft; nothing tried to list or delete its table.
    assert [args for args, _ in run.calls if args[0] == "nft"] == [("nft", "--version")]
    with pytest.raises(ApplyError, match="nft: command not found"):
        registry.create("nftables", settings).observe()


class _NodeWithoutLegacy(ScriptedRunner):
    """A node whose image has iptables-nft and nft but no iptables-legacy binary."""

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        if args[0].startswith(("iptables-legacy", "ip6tables-legacy")):
            self.calls.append((tuple(args), stdin))
            return CommandResult(tuple(args), 127, "", f"{args[0]}: command not found")
        return super().__call__(args, stdin=stdin)


def test_a_missing_iptables_flavour_is_not_swept() -> None:
    run = _NodeWithoutLegacy()
    settings = BackendSettings(CHAIN, ("ipv4",), run)
    registry = default_backend_registry()
    active = registry.create("nftables", settings)
    assert remove_other_backends(active, settings, registry) == []
    legacy = [args for args, _ in run.calls if args[0] == "iptables-legacy"]
    assert legacy == [("iptables-legacy", "--version")]  # asked once, then left alone


@pytest.mark.parametrize(
    ("version", "swept"),
    [
        pytest.param("iptables v1.8.9 (nf_tables)", "iptables-legacy", id="nf_tables"),
        pytest.param("iptables v1.8.9 (legacy)", "iptables-nft", id="legacy"),
    ],
)
def test_plain_iptables_keeps_its_own_flavour_asked_once(version: str, swept: str) -> None:
    # The legacy nat table exists (a real node's /proc is not read here), so both are looked at.
    saved = f"*nat\n:{CHAIN} - [0:0]\n{JUMP}\nCOMMIT\n"
    run = ScriptedRunner(version=version, saved=saved)
    settings = BackendSettings(CHAIN, ("ipv4",), run)
    registry = default_backend_registry()
    active = registry.create("iptables", settings)
    others = OtherBackends(active, settings, registry, legacy_loaded=lambda _: True)
    assert others.sweep() == []  # the scripted listing stays; what matters is who was asked
    assert [args for args, _ in run.calls if args == ("iptables", "--version")] == [
        ("iptables", "--version")
    ]
    # Only the other flavour was listed (to sweep it); our own flavour's state was not.
    assert {args[0] for args, _ in run.calls if args[0].endswith("-save")} == {f"{swept}-save"}
