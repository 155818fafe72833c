"""Precision, recall and F1 of detected spans against gold spans, per label and overall, exact and overlapping."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from santegarde.deid.entities import Entity


@dataclass
class Score:
    gold: int = 0
    predicted: int = 0
    found: int = 0  # gold spans matched by a prediction (recall's numerator)
    right: int = 0  # predictions matching a gold span (precision's numerator)

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return self.right / self.predicted if self.predicted else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    """Scores per (mode, label); label "*" is every label (a span found under another label still counts there)."""

    scores: dict[tuple[str, str], Score] = field(default_factory=dict)

    def score(self, mode: str, label: str) -> Score:
        return self.scores.setdefault((mode, label), Score())

    def lines(self) -> list[str]:
        out = [f"{'mode':8} {'label':15} {'gold':>5} {'pred':>5} {'recall':>7} {'precision':>9} {'F1':>6}"]
        for mode in ("overlap", "exact"):
            labels = sorted({lab for m, lab in self.scores if m == mode and lab not in ("*", "all")})
            for label in [*labels, "all", "*"]:
                s = self.scores.get((mode, label))
                if s is None:
                    continue
                name = {"all": "ALL (labelled)", "*": "ALL (any label)"}.get(label, label)
                out.append(
                    f"{mode:8} {name:15} {s.gold:5d} {s.predicted:5d} {s.recall:7.3f} {s.precision:9.3f} {s.f1:6.3f}"
                )
        return out


def _match(a: Entity, b: Entity, mode: str) -> bool:
    if mode == "exact":
        return a.start == b.start and a.end == b.end
    return a.start < b.end and b.start < a.end


def evaluate(pairs: Iterable[tuple[Sequence[Entity], Sequence[Entity]]]) -> Report:
    """Scores of (gold, predicted) entity lists, one pair a document."""
    report = Report()
    for gold, predicted in pairs:
        for mode in ("overlap", "exact"):
            for label_scope in ("label", "any"):
                for g in gold:
                    keys = [g.label, "all"] if label_scope == "label" else ["*"]
                    hit = any(_match(g, p, mode) and (label_scope == "any" or p.label == g.label) for p in predicted)
                    for key in keys:
                        s = report.score(mode, key)
                        s.gold += 1
                        s.found += hit
                for p in predicted:
                    keys = [p.label, "all"] if label_scope == "label" else ["*"]
                    hit = any(_match(g, p, mode) and (label_scope == "any" or p.label == g.label) for g in gold)
                    for key in keys:
                        s = report.score(mode, key)
                        s.predicted += 1
                        s.right += hit
    return report


def label_counts(entities: Iterable[Entity]) -> Counter[str]:
    return Counter(e.label for e in entities)
