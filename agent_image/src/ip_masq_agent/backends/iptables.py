"""The iptables backend: upstream's chain via iptables-restore, one POSTROUTING jump, drift view."""

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.iptables_payload import jump_rule_line, render_chain_payload
from ip_masq_agent.nftables_payload import canonical_network
from ip_masq_agent.rules import DesiredRules, Family, FamilyRules

# Binary per family for each flavour; `-restore`/`-save` are suffixed to these names.
FLAVORS: Final[Mapping[str, Mapping[Family, str]]] = {
    "iptables": {"ipv4": "iptables", "ipv6": "ip6tables"},
    "iptables-legacy": {"ipv4": "iptables-legacy", "ipv6": "ip6tables-legacy"},
    "iptables-nft": {"ipv4": "iptables-nft", "ipv6": "ip6tables-nft"},
}
# `MASQUERADE --random-fully` exists from iptables 1.6.2 on.
RANDOM_FULLY_SINCE: Final = (1, 6, 2)
_VERSION: Final = re.compile(r"v(\d+)\.(\d+)\.(\d+)")
_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
# xt_statistic keeps a probability as a fraction of 2**31 and iptables-save prints it %.11f.
_STATISTIC_SCALE: Final = 0x80000000


@dataclass(frozen=True)
class IptablesTool:
    """What `<binary> --version` says: its version and whether it drives nf_tables."""

    version: tuple[int, int, int] | None
    nf_tables: bool

    @property
    def random_fully(self) -> bool:
        """Whether it takes `--random-fully`; an unknown version is assumed modern."""
        return self.version is None or self.version >= RANDOM_FULLY_SINCE


def probe_iptables(run: CommandRunner, binary: str) -> IptablesTool:
    """Ask the binary once (at start, never while rendering): `iptables v1.8.9 (nf_tables)`."""
    result = run([binary, "--version"])
    text = result.stdout + result.stderr
    return IptablesTool(parse_iptables_version(text), "(nf_tables)" in text)


def parse_iptables_version(text: str) -> tuple[int, int, int] | None:
    """`iptables v1.8.9 (nf_tables)` -> (1, 8, 9)."""
    match = _VERSION.search(text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _delete(save_line: str) -> str:
    # iptables-save prints rules in restore syntax, so `-A` -> `-D` deletes exactly that rule.
    return "-D" + save_line.removeprefix("-A")


def _jump_target(line: str, chain: str) -> bool:
    words = line.split()
    return len(words) >= 4 and words[:2] == ["-A", "POSTROUTING"] and words[-2:] == ["-j", chain]


def _probability(text: str) -> str:
    try:
        scaled = round(float(text) * _STATISTIC_SCALE)
    except ValueError:
        return text
    return f"{scaled / _STATISTIC_SCALE:.11f}"


def canonical_rule(line: str) -> str:
    """One rule as a fingerprint of what it does, not of how a tool prints it.

    iptables-save prints the options of a rule in the kernel's order (`-d` and `-p` first,
    target options last) and the statistic probability as the kernel rounded it; the restore
    payload says the same in upstream's order. Sorting the option groups and rounding the
    probability as the kernel does makes both read alike; any other change still shows.
    """
    if line.startswith(":"):
        return " ".join(line.split()[:2])  # `:CHAIN -`: the packet counters are no rule
    tokens = _TOKEN.findall(line)
    groups: list[list[str]] = []
    for token in tokens[2:]:
        if token.startswith("-") or not groups:
            groups.append([token])
        else:
            groups[-1].append(token)
    for group in groups:
        if group[0] == "--probability" and len(group) == 2:
            group[1] = _probability(group[1])
        elif group[0] in ("-d", "-s") and len(group) == 2:
            group[1] = canonical_network(group[1])
    return " ".join([*tokens[:2], *sorted(" ".join(group) for group in groups)])


@dataclass(frozen=True)
class OwnedRules:
    """Our part of one family's nat table, as iptables-save prints it."""

    chain_lines: tuple[str, ...]  # the chain declaration and its rules; empty if no chain
    jumps: tuple[str, ...]  # every POSTROUTING rule that jumps to our chain

    def text(self) -> str:
        """The canonical form: what `IptablesBackend.expected` predicts for one family."""
        return "\n".join(map(canonical_rule, (*self.chain_lines, *self.jumps)))

    def digest(self) -> bytes:
        """Equal for two listings iff they list the same rules in the same words."""
        digest = hashlib.sha256()
        for line in (*self.chain_lines, *self.jumps):
            digest.update(f"{line}\n".encode("utf-8", "surrogateescape"))
        return digest.digest()


def owned_rules(save_output: str, chain: str) -> OwnedRules:
    """Pick out of `iptables-save -t nat` what belongs to the agent (pure, for tests too)."""
    chain_lines = []
    jumps = []
    for line in save_output.splitlines():
        if line.startswith((f":{chain} ", f"-A {chain} ")):
            chain_lines.append(line)
        elif _jump_target(line, chain):
            jumps.append(line)
    return OwnedRules(tuple(chain_lines), tuple(jumps))


class IptablesBackend:
    """One flavour of iptables (`iptables`, `iptables-legacy`, `iptables-nft`) for each family.

    Writes upstream's payload with `iptables-restore -w --noflush` (the chain declaration
    flushes only our chain) and, in the same transaction, makes POSTROUTING hold exactly one
    jump to it.
    """

    def __init__(
        self,
        *,
        flavor: str,
        chain: str,
        families: tuple[Family, ...],
        run: CommandRunner,
        random_fully_supported: bool = True,
        nf_tables: bool | None = None,
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"unknown iptables flavour {flavor!r}")
        self._flavor = flavor
        self._chain = chain
        self._families = families
        self._run = run
        self._random_fully = random_fully_supported
        self._nf_tables = flavor == "iptables-nft" if nf_tables is None else nf_tables
        # Per family, the latest listing's digest and canonical text: a resync mostly lists
        # the same 10,000 rules again, and canonicalising them costs ~10 ms per 1,000. Only
        # the last one is kept (an `lru_cache` of rules kept every old config's).
        self._seen: dict[Family, tuple[bytes, str]] = {}

    @property
    def name(self) -> str:
        return self._flavor

    def _binary(self, family: Family) -> str:
        return FLAVORS[self._flavor][family]

    @property
    def nf_tables(self) -> bool:
        """Whether its rules live in nf_tables (`iptables-nft`, or `iptables` on such a node)."""
        return self._nf_tables

    def render_family(self, rules: FamilyRules) -> str:
        random_fully = rules.masquerade.random_fully and self._random_fully
        return render_chain_payload(rules, chain=self._chain, random_fully=random_fully)

    def render(self, desired: DesiredRules) -> str:
        payloads = [self.render_family(rules) for rules in desired.families]
        if len(payloads) == 1:
            return payloads[0]
        # Several families: each payload under a comment naming the tool that takes it.
        return "".join(
            f"# {rules.family}: {self._binary(rules.family)}-restore -w --noflush\n{payload}"
            for rules, payload in zip(desired.families, payloads, strict=True)
        )

    def _save(self, family: Family) -> OwnedRules:
        result = self._run([f"{self._binary(family)}-save", "-t", "nat"])
        if result.returncode != 0:
            raise ApplyError(f"{self._binary(family)}-save -t nat: {result.error_line}")
        return owned_rules(result.stdout, self._chain)

    def _restore(self, family: Family, payload: str) -> None:
        tool = f"{self._binary(family)}-restore"
        result = self._run([tool, "-w", "--noflush"], stdin=payload)
        if result.returncode != 0:
            raise ApplyError(f"{tool} -w --noflush: {result.error_line}")

    def _jump_fixes(self, jumps: tuple[str, ...]) -> list[str]:
        wanted = jump_rule_line(self._chain)
        # Keep the first exact jump; any other rule jumping to our chain (a duplicate, an
        # older variant) is ours too and goes, so the chain is entered exactly once.
        keep = wanted if wanted in jumps else None
        extra = list(jumps)
        if keep is not None:
            extra.remove(keep)
        lines = [_delete(line) for line in extra]
        if keep is None:
            lines.append(wanted)
        return lines

    def apply(self, desired: DesiredRules) -> None:
        for rules in desired.families:
            # Chain and jump in one transaction: a kill between two restores would leave
            # the chain unhooked, or a jump to a half-written chain.
            # The last listing is stale from here on; 10,000 rules of it would stay resident
            # while the tool and the kernel hold the old and the new rules.
            self._seen.pop(rules.family, None)
            payload = self.render_family(rules).removesuffix("COMMIT\n")
            fixes = self._jump_fixes(self._save(rules.family).jumps)
            self._restore(
                rules.family, payload + "".join(f"{line}\n" for line in fixes) + "COMMIT\n"
            )

    def expected(self, desired: DesiredRules) -> str:
        parts = []
        for family in self._families:
            rules = desired.family(family)
            lines: list[str] = []
            if rules is not None:
                payload = self.render_family(rules).splitlines()
                lines = [canonical_rule(line) for line in payload if line.startswith((":", "-A "))]
                lines.append(canonical_rule(jump_rule_line(self._chain)))
            parts.append(f"# {family}\n" + "\n".join(lines))
        return "\n".join(parts)

    def observe(self) -> str:
        return "\n".join(f"# {family}\n{self._observe(family)}" for family in self._families)

    def _observe(self, family: Family) -> str:
        owned = self._save(family)
        digest = owned.digest()
        seen = self._seen.get(family)
        if seen is None or seen[0] != digest:
            self._seen.pop(family, None)  # the old text goes before the new one is made
            seen = self._seen[family] = (digest, owned.text())
        return seen[1]

    def cleanup(self) -> None:
        for family in self._families:
            owned = self._save(family)
            lines = [_delete(line) for line in owned.jumps]
            if owned.chain_lines:
                lines += [f"-F {self._chain}", f"-X {self._chain}"]
            if lines:
                self._restore(family, "*nat\n" + "\n".join(lines) + "\nCOMMIT\n")
