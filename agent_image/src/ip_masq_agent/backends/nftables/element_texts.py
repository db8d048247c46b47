"""Set elements as nft writes them, remembered from one render to the next.

An edit of one CIDR among 50,000 changes one or two merged elements, yet rendering all of
them again cost 0.1 s of every pass. The texts of the last render are kept (only those: the
memo never holds more than the current sets, ~6 MB at 50,000) and a render computes only
the elements it has not seen.
"""

from collections.abc import Sequence

from ip_masq_agent.intervals import Interval
from ip_masq_agent.prefixes import element_text


class ElementTexts:
    """Renders a family's elements, joined, reusing the texts of its previous render."""

    def __init__(self) -> None:
        self._last: dict[int, dict[Interval, str]] = {}

    def join(self, elements: Sequence[Interval], version: int) -> str:
        last = self._last.get(version, {})
        texts = {span: last.get(span) or element_text(span, version) for span in elements}
        self._last[version] = texts
        return ", ".join(texts.values())
