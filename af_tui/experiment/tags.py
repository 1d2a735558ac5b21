"""The scratchpad and output tags a reply may be written in: the notebook's, and the conventions of the
open-source pipeline's forks. A reply in another pair is read as the notebook's tags, so that af-tui's
outcome rule (rules.py) reads it as the notebook reads its own replies. Pure."""

from __future__ import annotations

import re
from typing import NamedTuple


class TagPair(NamedTuple):
    """The tags a reply's scratchpad and final output are written in (matched case-insensitively)."""

    scratchpad: str
    output: str


# The notebook's tags first, then the conventions of the pipeline's forks: tried in this order.
NOTEBOOK_TAGS = TagPair("SCRATCHPAD_REASONING", "OUTPUT")
TAG_PAIRS: tuple[TagPair, ...] = (NOTEBOOK_TAGS, TagPair("HIDDEN_SCRATCHPAD", "OUTPUT"), TagPair("think", "output"))


def _tag_re(name: str) -> re.Pattern:
    return re.compile(rf"<(/?){re.escape(name)}>", re.IGNORECASE)


_TAG_RES = {name: _tag_re(name) for pair in TAG_PAIRS for name in pair}


def tag_pair_of(reply: str, pairs: tuple[TagPair, ...] = TAG_PAIRS) -> TagPair | None:
    """The first pair whose scratchpad tag the reply opens or closes, else the first whose output tag it does;
    None when it uses none of them."""
    for part in (0, 1):
        for pair in pairs:
            pattern = _TAG_RES.get(pair[part]) or _tag_re(pair[part])
            if pattern.search(reply):
                return pair
    return None


def in_notebook_tags(reply: str, pairs: tuple[TagPair, ...] = TAG_PAIRS) -> str:
    """The reply with its tag pair rewritten into the notebook's exact tags, so that af-tui's outcome rule
    (which reads <SCRATCHPAD_REASONING> and <OUTPUT>) reads it as the notebook reads its own replies."""
    pair = tag_pair_of(reply, pairs)
    if pair is None:
        return reply
    for name, target in zip(pair, NOTEBOOK_TAGS, strict=True):
        pattern = _TAG_RES.get(name) or _tag_re(name)
        reply = pattern.sub(lambda m, t=target: f"<{m.group(1)}{t}>", reply)
    return reply
