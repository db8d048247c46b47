"""The iptables backend: upstream's chain via iptables-restore, one POSTROUTING jump, drift view."""

import hashlib
from dataclasses import dataclass

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.backends.iptables_tool import FLAVOR_NF_TABLES, FLAVORS, IptablesProbe
from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.iptables_payload import (
    NAT,
    Append,
    Command,
    Delete,
    DeleteChain,
    FlushChain,
    RestorePayload,
    chain_payload,
    chain_rules,
    chain_transaction,
    jump_rule,
)
from ip_masq_agent.iptables_rules import ChainHead, ListingParser, Option, Rule
from ip_masq_agent.rules import DesiredRules, Family, FamilyRules


@dataclass(frozen=True)
class OwnedRules:
    """Our part of one family's nat table, as iptables-save lists it."""

    chain_lines: tuple[str, ...]  # the chain declaration and its rules; empty if no chain
    jumps: tuple[Rule, ...]  # every POSTROUTING rule that jumps to our chain

    def text(self) -> str:
        """The canonical form: what `IptablesBackend.expected` predicts for one family."""
        parser = ListingParser()
        canonical = []
        for line in self.chain_lines:
            listed = parser.line(line)
            canonical.append(line if listed is None else listed.canonical())
        canonical += [jump.canonical() for jump in self.jumps]
        return "\n".join(canonical)

    def digest(self) -> bytes:
        """Equal for two listings iff they list the same rules in the same words."""
        digest = hashlib.sha256()
        for line in (*self.chain_lines, *(jump.appended() for jump in self.jumps)):
            digest.update(f"{line}\n".encode("utf-8", "surrogateescape"))
        return digest.digest()


def owned_rules(save_output: str, chain: str) -> OwnedRules:
    """Pick out of `iptables-save -t nat` what belongs to the agent (pure, for tests too).

    Our chain's lines stay as listed until they are compared: a resync mostly lists the
    same 10,000 rules again, and only a new listing is worth parsing.
    """
    chain_lines = []
    jumps = []
    enter = Option("-j", (chain,))
    parser = ListingParser()
    for line in save_output.splitlines():
        if line.startswith((f":{chain} ", f"-A {chain} ")):
            chain_lines.append(line)
        elif line.startswith("-A POSTROUTING "):
            rule = parser.line(line)
            if isinstance(rule, Rule) and rule.options and rule.options[-1] == enter:
                jumps.append(rule)
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
        probe: IptablesProbe | None = None,
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"unknown iptables flavour {flavor!r}")
        self._flavor = flavor
        self._chain = chain
        self._families = families
        self._run = run
        self._random_fully = random_fully_supported
        # Only the plain `iptables` needs asking which flavour it is, and only when asked.
        self._probe = probe or IptablesProbe(run, FLAVORS[flavor]["ipv4"])
        # Per family, the latest listing's digest and canonical text: a resync mostly lists
        # the same 10,000 rules again, and canonicalising them costs ~10 ms per 1,000. Only
        # the last one is kept (an `lru_cache` of rules kept every old config's).
        self._seen: dict[Family, tuple[bytes, str]] = {}
        # Per family, the jumps into our chain as last read (or left by our own write):
        # `apply_unchanged` builds its fixes from them instead of another `-save`.
        self._jumps: dict[Family, tuple[Rule, ...]] = {}
        # Per family, the chain's rules the expected view built for the latest plan (by
        # identity), until the write takes them: an edit builds 10,000 of them once.
        self._built: dict[Family, tuple[FamilyRules, tuple[Rule, ...]]] = {}

    @property
    def name(self) -> str:
        return self._flavor

    @property
    def nf_tables(self) -> bool:
        """Whether its rules live in nf_tables (`iptables-nft`, or `iptables` on such a node)."""
        known = FLAVOR_NF_TABLES[self._flavor]
        return self._probe.tool().nf_tables if known is None else known

    def _binary(self, family: Family) -> str:
        return FLAVORS[self._flavor][family]

    def _random_fully_for(self, rules: FamilyRules) -> bool:
        return rules.masquerade.random_fully and self._random_fully

    def _chain_rules(self, rules: FamilyRules, *, keep: bool) -> tuple[Rule, ...]:
        built = self._built.pop(rules.family, None)
        if built is None or built[0] is not rules:
            random_fully = self._random_fully_for(rules)
            built = (rules, chain_rules(rules, chain=self._chain, random_fully=random_fully))
        if keep:
            self._built[rules.family] = built
        return built[1]

    def render_family(self, rules: FamilyRules) -> str:
        random_fully = self._random_fully_for(rules)
        return chain_payload(rules, chain=self._chain, random_fully=random_fully).render()

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
        owned = owned_rules(result.stdout, self._chain)
        self._jumps[family] = owned.jumps
        return owned

    def _restore(self, family: Family, payload: RestorePayload) -> None:
        tool = f"{self._binary(family)}-restore"
        result = self._run([tool, "-w", "--noflush"], stdin=payload.render())
        if result.returncode != 0:
            raise ApplyError(f"{tool} -w --noflush: {result.error_line}")

    def _jump_fixes(self, jumps: tuple[Rule, ...]) -> list[Command]:
        wanted = jump_rule(self._chain)
        # Keep the first exact jump; any other rule jumping to our chain (a duplicate, an
        # older variant) is ours too and goes, so the chain is entered exactly once.
        extra = list(jumps)
        if wanted in extra:
            extra.remove(wanted)
            return [Delete(rule) for rule in extra]
        return [*(Delete(rule) for rule in extra), Append(wanted)]

    def apply(self, desired: DesiredRules) -> None:
        self._apply(desired, reuse=False)

    def apply_unchanged(self, desired: DesiredRules) -> None:
        """`apply`, told the kernel is as this backend last read or wrote it (the nf_tables
        generation has not moved since: `GenerationCachedBackend`): no `-save` first."""
        self._apply(desired, reuse=True)

    def _apply(self, desired: DesiredRules, *, reuse: bool) -> None:
        for rules in desired.families:
            # Chain and jump in one transaction: a kill between two restores would leave
            # the chain unhooked, or a jump to a half-written chain.
            # The last listing is stale from here on; 10,000 rules of it would stay resident
            # while the tool and the kernel hold the old and the new rules.
            self._seen.pop(rules.family, None)
            payload = chain_transaction(self._chain, self._chain_rules(rules, keep=False))
            jumps = self._jumps.get(rules.family) if reuse else None
            if jumps is None:
                jumps = self._save(rules.family).jumps
            del self._jumps[rules.family]  # unknown until the write is known to have landed
            self._restore(rules.family, payload.then(*self._jump_fixes(jumps)))
            # All or nothing, and it leaves exactly one jump: the wanted one.
            self._jumps[rules.family] = (jump_rule(self._chain),)

    def expected(self, desired: DesiredRules) -> str:
        parts = []
        for family in self._families:
            rules = desired.family(family)
            lines: list[str] = []
            if rules is not None:
                lines.append(ChainHead(self._chain).canonical())
                lines += [rule.canonical() for rule in self._chain_rules(rules, keep=True)]
                lines.append(jump_rule(self._chain).canonical())
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
            commands: list[Command] = [Delete(jump) for jump in owned.jumps]
            if owned.chain_lines:
                commands += [FlushChain(self._chain), DeleteChain(self._chain)]
            if commands:
                del self._jumps[family]
                self._restore(family, RestorePayload(NAT, commands=tuple(commands)))
