"""An iptables rule as a value: built by the payload, parsed from `iptables-save`, compared.

What the agent writes is made of these values and rendered once; what the kernel lists is
parsed into the same values. Every comparison (the drift view, "is our jump there?") is
between values, so no code reads back text it rendered itself.
"""

import re
from dataclasses import dataclass
from typing import Final

from ip_masq_agent.nftables_payload import canonical_network

# A double-quoted word (a comment, with its backslash escapes) or any run of non-blanks.
_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
# xt_statistic keeps a probability as a fraction of 2**31 and iptables-save prints it %.11f.
_STATISTIC_SCALE: Final = 0x80000000
_NETWORK_FLAGS: Final = frozenset({"-d", "-s"})


def _probability(text: str) -> str:
    try:
        scaled = round(float(text) * _STATISTIC_SCALE)
    except ValueError:
        return text
    return f"{scaled / _STATISTIC_SCALE:.11f}"


def quote(text: str) -> str:
    """A rule argument with blanks, as iptables-save prints it (our comments hold no quote)."""
    return f'"{text}"'


@dataclass(frozen=True, slots=True)
class Option:
    """One option with its arguments, e.g. `-d 10.0.0.0/8` or `! --dst-type LOCAL`."""

    flag: str
    args: tuple[str, ...] = ()
    negated: bool = False

    def __str__(self) -> str:
        words = (self.flag, *self.args)
        return " ".join(("!", *words) if self.negated else words)

    def canonical(self) -> str:
        """The option as a fingerprint of what it does, whichever tool printed it.

        The kernel rounds a statistic probability, and tools print IPv6 networks each
        their own way; anything else is kept word for word, so any change still shows.
        """
        args = self.args
        if len(args) == 1 and self.flag == "--probability":
            args = (_probability(args[0]),)
        elif len(args) == 1 and self.flag in _NETWORK_FLAGS:
            args = (canonical_network(args[0]),)
        return str(Option(self.flag, args, self.negated))


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a chain: the chain it is in and its options in the order given."""

    chain: str
    options: tuple[Option, ...]

    def spec(self) -> str:
        """The rule specification after the chain name."""
        return " ".join(map(str, self.options))

    def appended(self) -> str:
        """The restore command adding it (also how iptables-save lists it)."""
        return " ".join(["-A", self.chain, *map(str, self.options)])

    def deleted(self) -> str:
        """The restore command deleting exactly this rule."""
        return " ".join(["-D", self.chain, *map(str, self.options)])

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


def parse_options(words: list[str]) -> tuple[Option, ...]:
    """Words after `-A CHAIN` grouped into options: a flag takes the words up to the next."""
    options: list[Option] = []
    negated = False
    for word in words:
        if word == "!":
            negated = True
        elif word.startswith("-") or not options:
            options.append(Option(word, (), negated))
            negated = False
        else:
            last = options[-1]
            options[-1] = Option(last.flag, (*last.args, word), last.negated)
    if negated:  # a trailing `!` negates nothing; kept so the difference still shows
        options.append(Option("!"))
    return tuple(options)


def parse_listed(line: str) -> Rule | ChainHead | None:
    """One line of `iptables-save` as a value; None for anything else (table, COMMIT)."""
    if line.startswith(":"):
        words = line[1:].split()
        return ChainHead(words[0], words[1] if len(words) > 1 else "-") if words else None
    tokens = _TOKEN.findall(line)
    if len(tokens) < 2 or tokens[0] != "-A":
        return None
    return Rule(tokens[1], parse_options(tokens[2:]))


def parse_rule(line: str) -> Rule:
    """An `-A CHAIN ...` line of `iptables-save` as a rule; ValueError for any other line."""
    parsed = parse_listed(line)
    if not isinstance(parsed, Rule):
        raise ValueError(f"not an iptables rule: {line!r}")
    return parsed
