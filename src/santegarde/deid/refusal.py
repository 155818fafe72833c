"""The de-identification package's refusals, worded in French and English from the catalogue (``deid`` area)."""

from __future__ import annotations

from typing import Any

from santegarde import refusals
from santegarde.errors import WordedError


class DeidRefused(WordedError):
    """A file, a note or a tool the de-identification cannot use; French by default, English with ``--lang en``.

    ``key`` names the sentence in ``data/refusals.yaml`` (``deid``); ``facts`` fill its placeholders. The facts
    never hold the text of a note or of a document, only names, counts and kinds of error.
    """

    def __init__(self, key: str, /, **facts: Any) -> None:
        super().__init__(refusals.sentences("deid", key, **facts))
        self.key = key
