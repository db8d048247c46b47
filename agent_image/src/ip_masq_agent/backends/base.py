"""The contract every kernel backend (iptables-nft, iptables-legacy, nftables) fulfils."""

from typing import Protocol

from ip_masq_agent.rules import DesiredRules


class ApplyError(RuntimeError):
    """The kernel refused or could not take a payload; nothing of it is in place."""


class Backend(Protocol):
    """A way to put a DesiredRules plan into the kernel and to look at what is there.

    The sync loop applies when the plan changed, or when `observe()` no longer returns what it
    returned right after the last apply (someone tampered with our rules): drift repair without
    rewriting unchanged rules, and no restore process when nothing changed.
    """

    @property
    def name(self) -> str:
        """Stable identifier for logs and the backend metric, e.g. `iptables-nft`."""
        ...

    def render(self, desired: DesiredRules) -> str:
        """The exact payload(s) `apply` feeds to the kernel tools, for review and goldens."""
        ...

    def apply(self, desired: DesiredRules) -> None:
        """Replace everything this backend owns with `desired`, atomically; raise ApplyError."""
        ...

    def observe(self) -> str:
        """Canonical text of everything this backend owns in the kernel right now.

        Must not write anything (an idle resync only observes); raises ApplyError when the
        kernel cannot be read. Compared only with its own earlier output, so any stable text
        works.
        """
        ...

    def cleanup(self) -> None:
        """Remove everything this backend owns (chain, jump, table); idempotent."""
        ...
