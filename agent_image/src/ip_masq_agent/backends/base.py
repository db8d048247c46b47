"""The contract every kernel backend (iptables-nft, iptables-legacy, nftables) fulfils."""

from typing import Protocol

from ip_masq_agent.rules import DesiredRules


class ApplyError(RuntimeError):
    """The kernel refused or could not take a payload; nothing of it is in place."""


class Backend(Protocol):
    """A way to put a DesiredRules plan into the kernel and to look at what is there.

    Drift is judged against the desired state, never against a snapshot: the sync loop
    rewrites whenever `observe()` differs from `expected(desired)`, and after each write it
    checks that the kernel shows exactly `expected(desired)`. A writer racing ours (a CNI, an
    old agent flushing the chain) can then never make its result the reference.
    """

    @property
    def name(self) -> str:
        """Stable identifier for logs and the backend metric, e.g. `iptables-nft`."""
        ...

    @property
    def nf_tables(self) -> bool:
        """Whether its rules live in nf_tables, so the ruleset generation tells they changed.

        Also which kernel state a plain `iptables` writes (nft or legacy), for the sweep of
        the other backends. May ask the tool once; never while rendering.
        """
        ...

    def render(self, desired: DesiredRules) -> str:
        """The exact payload(s) `apply` feeds to the kernel tools, for review and goldens."""
        ...

    def apply(self, desired: DesiredRules) -> None:
        """Replace everything this backend owns with `desired`, atomically; raise ApplyError."""
        ...

    def expected(self, desired: DesiredRules) -> str:
        """What `observe()` returns when the kernel holds exactly `desired` (pure)."""
        ...

    def observe(self) -> str:
        """Canonical text of everything this backend owns in the kernel right now.

        Must not write anything (an idle resync only observes); raises ApplyError when the
        kernel cannot be read. The canonical form irons out only how the tools print (rule
        option order, line wrapping, rounding), so any change to what the rules do shows.
        """
        ...

    def cleanup(self) -> None:
        """Remove everything this backend owns (chain, jump, table); idempotent."""
        ...
