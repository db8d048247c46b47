"""An iptables rule as a value: built by the payload, parsed from `iptables-save`, compared.

What the agent writes is made of these values and rendered once; what the kernel lists is
parsed into the same values. Every comparison (the drift view, "is our jump there?") is
between values, so no code reads back text it rendered itself.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ip_masq_agent.prefixes import canonical_network

# A double-quoted word (a comment, with its backslash escapes) or any run of non-blanks;
# the quoted part unrolled (runs of plain characters, then one escape) as it is scanned
# for every rule of a 10,000-rule listing.
_TOKEN: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|\S+')
# xt_statistic keeps a probability as a fraction of 2**31 and iptables-save prints it %.11f.
_STATISTIC_SCALE: Final = 0x80000000


def _probability(text: str) -> str:
    try:
        scaled = round(float(text) * _STATISTIC_SCALE)
    except ValueError:
        return text
    return f"{scaled / _STATISTIC_SCALE:.11f}"


# The arguments tools print their own way, each with the function that irons it out.
_NORMALISED: Final[Mapping[str, Callable[[str], str]]] = {
    "--probability": _probability,
    "-d": canonical_network,
    "-s": canonical_network,
}


def quote(text: str) -> str:
    """A rule argument with blanks, as iptables-save prints it (our comments hold no quote)."""
    return f'"{text}"'


@dataclass(frozen=True, slots=True)
class Option:
    """One option with its arguments, e.g. `-d 10.0.0.0/8` or `! --dst-type LOCAL`."""

    flag: str
    args: tuple[str, ...] = ()
    negated: bool = False
    # The arguments are already as `canonical` would print them (a `Prefix`'s text is the
    # canonical network): the expected view of 10,000 rules parses none of them again.
    canonical_args: bool = field(default=False, repr=False, compare=False)
    # Its words as rendered, made once: a 10,000-rule payload renders each option again.
    text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = (self.flag, *self.args)
        object.__setattr__(self, "text", " ".join(("!", *words) if self.negated else words))

    def __str__(self) -> str:
        return self.text

    def canonical(self) -> str:
        """The option as a fingerprint of what it does, whichever tool printed it.

        The kernel rounds a statistic probability, and tools print IPv6 networks each
        their own way; anything else is kept word for word, so any change still shows.
        """
        if self.canonical_args or len(self.args) != 1 or self.flag not in _NORMALISED:
            return self.text
        value = _NORMALISED[self.flag](self.args[0])
        return f"! {self.flag} {value}" if self.negated else f"{self.flag} {value}"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a chain: the chain it is in and its options in the order given."""

    chain: str
    options: tuple[Option, ...]

    def appended(self) -> str:
        """The restore command adding it (also how iptables-save lists it)."""
        return " ".join(["-A", self.chain, *[option.text for option in self.options]])

    def deleted(self) -> str:
        """The restore command deleting exactly this rule."""
        return " ".join(["-D", self.chain, *[option.text for option in self.options]])

    def canonical(self) -> str:
        """What the rule does, not how a tool prints it.

        iptables-save prints the options of a rule in the kernel's order (`-d` and `-p`
        first, target options last); the payload says the same in upstream's order.
        Sorting the options makes both read alike.
        """
        return " ".join(["-A", self.chain, *sorted(o.canonical() for o in self.options)])


@dataclass(frozen=True, slots=True)
class ChainHead:
    """A chain's declaration; in a restore payload it creates the chain or flushes it."""

    name: str
    policy: str = "-"  # built-in chains have ACCEPT or DROP; user chains none

    def declared(self) -> str:
        return f":{self.name} {self.policy} [0:0]"

    def canonical(self) -> str:
        return f":{self.name} {self.policy}"  # the packet counters are no rule


class ListingParser:
    """Lines of `iptables-save` as values, one value per distinct option.

    A 10,000-rule listing repeats the same comment and target in every rule: each is made
    once and shared, as the payload shares them.
    """

    def __init__(self) -> None:
        self._options: dict[tuple[str, ...], Option] = {}

    def _option(self, words: list[str], negated: bool) -> Option:
        key = ("!", *words) if negated else tuple(words)
        option = self._options.get(key)
        if option is None:
            option = self._options[key] = Option(words[0], tuple(words[1:]), negated)
        return option

    def options(self, words: list[str]) -> tuple[Option, ...]:
        """Words after `-A CHAIN` as options: a flag takes the words up to the next flag."""
        options: list[Option] = []
        group: list[str] = []
        negated = next_negated = False
        for word in words:
            if word == "!":
                next_negated = True
            elif word.startswith("-") or not group:
                if group:
                    options.append(self._option(group, negated))
                group, negated, next_negated = [word], next_negated, False
            else:
                group.append(word)
        if group:
            options.append(self._option(group, negated))
        if next_negated:  # a trailing `!` negates nothing; kept so the difference shows
            options.append(self._option(["!"], False))
        return tuple(options)

    def line(self, line: str) -> Rule | ChainHead | None:
        """One line as a value; None for anything else (the table, COMMIT, comments)."""
        if line.startswith(":"):
            words = line[1:].split()
            return ChainHead(words[0], words[1] if len(words) > 1 else "-") if words else None
        tokens = _TOKEN.findall(line)
        if len(tokens) < 2 or tokens[0] != "-A":
            return None
        return Rule(tokens[1], self.options(tokens[2:]))


def parse_listed(line: str) -> Rule | ChainHead | None:
    """One line of `iptables-save` as a value; None for anything else (table, COMMIT)."""
    return ListingParser().line(line)


def parse_rule(line: str) -> Rule:
    """An `-A CHAIN ...` line of `iptables-save` as a rule; ValueError for any other line."""
    parsed = parse_listed(line)
    if not isinstance(parsed, Rule):
        raise ValueError(f"not an iptables rule: {line!r}")
    return parsed
