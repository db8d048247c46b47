"""The native nftables backend: one `inet` table modelled as typed values (model.py), written
as `nft -f` scripts (script.py), read back from `nft -j` (listing.py), driven by backend.py."""

from ip_masq_agent.backends.nftables.backend import NftablesBackend

__all__ = ["NftablesBackend"]
