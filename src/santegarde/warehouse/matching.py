"""Identity matching (issue 15): which person of the warehouse an incoming identity is, as a master patient index.

Two records are the same person only on evidence, never because two numbers or two names are equal:

1. **The INS** (qualified national health identifier, its key checked) decides when both records carry one:
   equal INS, same person; different INS, different persons, whatever the names say.
2. Otherwise, **record linkage** by the Fellegi–Sunter method as Mainzelliste's EpiLink computes it: every field
   present in both records weighs ``log2((1 - e) / f)`` (``e`` the error rate, ``f`` the chance that two
   different persons agree on it), multiplied by the similarity of the two values (Jaro–Winkler for names,
   counted only from :data:`STRING_AGREEMENT`; equality for the other fields); the score is the weighted sum
   over the weights of the fields compared. The family name is compared with both the birth name and the used
   name of the other record (a name change at marriage keeps the birth name); a birth date whose day and month
   are swapped counts as :data:`SWAPPED_DATE` of an agreement.
3. **Decision**: a score of at least :data:`MATCH` with no conflict on the strict traits of French identity
   vigilance (sex, birthplace, when both records give them) links the records; a score of at least
   :data:`POSSIBLE` (or a match with such a conflict) is a *possible match*: the record becomes a person of its
   own and the pair goes to the review queue of the identity-vigilance profile (``vault.identity_review``),
   never merged silently; below, a new person.

Blocking (:func:`blocking_keys`): candidate pairs share the birth date (day and month in either order, so a swap
is found), or the birth year and the first three letters of a family name (birth or used), or a family name and
the first name (whatever the birth date), or the INS; records of the same feed are matched against each other in
order, then against the vault. Blocks stay of a few dozen records at a million identities (the birth year alone
gave ~12,000). Each source record keeps its own identity row in the vault (``vault.identity``, one row per source
record, never overwritten by another record), so a link can be reviewed and undone.

A new person's pseudonym is the keyed hash of its normalised identity (``family|given|birth date``, so that a
person who gives their name and birth date finds it); when another person already holds that pseudonym (a
homonym), the hash also covers the keyed hash of the source record, so the two stay apart.
"""

# ruff: noqa: S608 - SQL is assembled from constants; values and keys go as $parameters

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from rapidfuzz.distance import JaroWinkler

from santegarde.identifiers.errors import InvalidIdentifier
from santegarde.identifiers.nir import validate_ins
from santegarde.warehouse.pseudonym import hmac_sql, identity_message_sql, normalise_sql

if TYPE_CHECKING:
    from santegarde.warehouse.core import Warehouse

ERROR_RATE = 0.05
# The chance that two different persons agree on a field (Mainzelliste's EpiLink defaults, French birthplaces).
FREQUENCY = {
    "family": 0.0000271, "given": 0.000235, "day": 1 / 30, "month": 1 / 12, "year": 1 / 35, "sex": 0.5,
    "birth_place": 0.001,
}  # fmt: skip
WEIGHT = {field: math.log2((1 - ERROR_RATE) / f) for field, f in FREQUENCY.items()}
STRING_AGREEMENT = 0.85
SWAPPED_DATE = 0.9
MATCH = 0.95
POSSIBLE = 0.80


@dataclass(frozen=True)
class Traits:
    """The normalised identity traits of one record (``None``: not given)."""

    family: str | None
    used: str | None
    given: str | None
    birth: date | None
    sex: str | None
    birth_place: str | None
    ins: str | None


@dataclass(frozen=True)
class Decision:
    """How two records compare: ``match``, ``possible`` or ``distinct``, with the score and why."""

    outcome: str
    score: float
    reason: str


def checked_ins(value: str | None) -> str | None:
    """The INS in compact form if its key is right, else ``None`` (a wrong INS links nothing)."""
    if not value:
        return None
    try:
        return validate_ins(value)
    except InvalidIdentifier:
        return None


def jaro_winkler(a: str, b: str) -> float:
    """Jaro–Winkler similarity (prefix scale 0.1, at most 4 characters), RapidFuzz's compiled implementation, the
    one DuckDB's ``jaro_winkler_similarity`` embeds (the prefix bonus applies above a Jaro similarity of 0.7, so
    below :data:`STRING_AGREEMENT` either way)."""
    return float(JaroWinkler.similarity(a, b, prefix_weight=0.1))


def _name(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    similarity = jaro_winkler(a, b)
    return similarity if similarity >= STRING_AGREEMENT else 0.0


def _family(a: Traits, b: Traits) -> float | None:
    """The best agreement between the birth and used names of the two records."""
    pairs = [_name(x, y) for x in (a.family, a.used) for y in (b.family, b.used)]
    known = [p for p in pairs if p is not None]
    return max(known) if known else None


def _birth(a: date, b: date) -> list[tuple[str, float]]:
    """Agreement of day, month and year; a day and month swapped count as :data:`SWAPPED_DATE`."""
    direct = [("day", float(a.day == b.day)), ("month", float(a.month == b.month)), ("year", float(a.year == b.year))]
    if a.day != b.day and a.day == b.month and a.month == b.day:
        return [("day", SWAPPED_DATE), ("month", SWAPPED_DATE), ("year", float(a.year == b.year))]
    return direct


def compare(a: Traits, b: Traits) -> Decision:
    """Compare two records (see the module docstring)."""
    if a.ins and b.ins:
        return Decision("match", 1.0, "ins") if a.ins == b.ins else Decision("distinct", 0.0, "ins")
    parts: list[tuple[str, float]] = []
    for field, similarity in (("family", _family(a, b)), ("given", _name(a.given, b.given))):
        if similarity is not None:
            parts.append((field, similarity))
    if a.birth and b.birth:
        parts.extend(_birth(a.birth, b.birth))
    conflicts = []
    for field in ("sex", "birth_place"):
        x, y = getattr(a, field), getattr(b, field)
        if x and y:
            parts.append((field, float(x == y)))
            if x != y:
                conflicts.append(field)
    total = sum(WEIGHT[f] for f, _ in parts)
    score = sum(WEIGHT[f] * s for f, s in parts) / total if total else 0.0
    if score >= MATCH and not conflicts:
        return Decision("match", score, "traits")
    if score >= POSSIBLE:
        return Decision("possible", score, ", ".join(conflicts) or "score")
    return Decision("distinct", score, "score")


# -- in the warehouse -------------------------------------------------------------------------------------------
def _traits_sql(family: str, used: str, given: str, birth: str, sex: str, place: str, ins: str) -> str:
    """SQL of the normalised traits (family, used, given, birth, sex, birth_place, ins) from columns."""
    return (
        f"{normalise_sql(family)} AS family, nullif({normalise_sql(used)}, '') AS used, "
        f"{normalise_sql(given)} AS given, TRY_CAST({birth} AS DATE) AS birth, lower({sex}) AS sex, "
        f"nullif({normalise_sql(place)}, '') AS birth_place, {ins} AS ins"
    )


def _traits(row: tuple[Any, ...]) -> Traits:
    family, used, given, birth, sex, place, ins = row
    return Traits(family or None, used or None, given or None, birth, sex or None, place or None, ins or None)


@dataclass(frozen=True)
class Assignment:
    """What matching decided for one source record."""

    ref: str
    source_hash: str
    pseudonym: str
    outcome: str  # known (fed before), match, possible, new
    candidate: str | None = None
    score: float | None = None
    reason: str = ""


def blocking_keys(traits: Traits) -> list[tuple[object, ...]]:
    """The blocking keys of a record: two records are compared when they share one (module docstring)."""
    keys: list[tuple[object, ...]] = []
    names = [n for n in (traits.family, traits.used) if n]
    if traits.birth:
        born = traits.birth
        keys.append(("date", born.year, min(born.day, born.month), max(born.day, born.month)))
        keys.extend(("year", born.year, name[:3]) for name in names)
    if traits.given:
        keys.extend(("name", name, traits.given) for name in names)
    if traits.ins:
        keys.append(("ins", traits.ins))
    return keys


class _Index:
    """Records (traits, pseudonym) indexed by their blocking keys."""

    def __init__(self) -> None:
        self.keys: dict[tuple[object, ...], list[tuple[Traits, str]]] = {}

    def add(self, traits: Traits, pseudonym: str) -> None:
        for key in blocking_keys(traits):
            self.keys.setdefault(key, []).append((traits, pseudonym))

    def candidates(self, traits: Traits) -> list[tuple[Traits, str]]:
        seen: dict[int, tuple[Traits, str]] = {}
        for key in blocking_keys(traits):
            for entry in self.keys.get(key, ()):
                seen.setdefault(id(entry), entry)
        return list(seen.values())


def assign(warehouse: Warehouse, kind: str, source: str) -> list[Assignment]:
    """Decide the pseudonym of every complete record of ``temp.patients`` (``ref``, ``family``, ``used_family``,
    ``given``, ``birth``, ``gender``, ``birth_place``, ``ins``) fed from ``source``; writes
    ``temp.assigned(ref, pseudonym, source_hash)``.

    The vault must be attached. Records fed before keep their person; the others are matched (module docstring).
    """
    con = warehouse.omop
    warehouse.sql(
        f"""CREATE OR REPLACE TEMP TABLE incoming AS
            SELECT ref, {hmac_sql("$src || '|' || ref", "mk")} AS source_hash,
                   {hmac_sql(identity_message_sql("family", "given", "birth"))} AS base,
                   {_traits_sql("family", "used_family", "given", "birth", "gender", "birth_place", "ins")}
            FROM temp.patients
            WHERE family IS NOT NULL AND given IS NOT NULL AND TRY_CAST(birth AS DATE) IS NOT NULL""",
        {"src": source},
    )
    raw = [str(v) for (v,) in con.execute("SELECT DISTINCT ins FROM temp.incoming WHERE ins IS NOT NULL").fetchall()]
    if raw:
        _temp_table(warehouse, "ins_checked", {"raw": raw, "ins": [checked_ins(v) for v in raw]})
        con.execute("UPDATE temp.incoming n SET ins = c.ins FROM temp.ins_checked c WHERE n.ins = c.raw")
    known = dict(
        con.execute(
            """SELECT i.source_hash, i.pseudonym FROM vault.identity i JOIN temp.incoming n USING (source_hash)
               WHERE i.kind = $kind""",
            {"kind": kind},
        ).fetchall()
    )
    rows = con.execute(
        "SELECT ref, source_hash, base, family, used, given, birth, sex, birth_place, ins FROM temp.incoming "
        "ORDER BY ref"
    ).fetchall()
    index = _Index()
    for traits, pseudonym in _vault_candidates(warehouse):
        index.add(traits, pseudonym)
    taken = {str(p) for (p,) in con.execute(
        "SELECT DISTINCT i.pseudonym FROM vault.identity i JOIN temp.incoming n ON i.pseudonym = n.base"
    ).fetchall()}  # fmt: skip
    out: list[Assignment] = []
    for ref, source_hash, base, *fields in rows:
        traits = _traits(tuple(fields))
        assignment = _decide(warehouse, str(ref), str(source_hash), str(base), traits, known, index, taken)
        taken.add(assignment.pseudonym)
        index.add(traits, assignment.pseudonym)
        out.append(assignment)
    _temp_table(warehouse, "assigned", {"ref": [a.ref for a in out], "pseudonym": [a.pseudonym for a in out],
                                         "source_hash": [a.source_hash for a in out]})  # fmt: skip
    return out


def _temp_table(warehouse: Warehouse, name: str, columns: Mapping[str, Sequence[str | None]]) -> None:
    """``temp.<name>`` of text columns, written in one Arrow batch (a row-by-row insert took half of matching)."""
    view = f"__{name}_batch"
    warehouse.omop.register(view, pa.table({c: pa.array(v, type=pa.string()) for c, v in columns.items()}))
    try:
        warehouse.omop.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
    finally:
        warehouse.omop.unregister(view)


def _decide(
    warehouse: Warehouse, ref: str, source_hash: str, base: str, traits: Traits, known: dict[str, str],
    index: _Index, taken: set[str],
) -> Assignment:  # fmt: skip
    if source_hash in known:
        return Assignment(ref, source_hash, str(known[source_hash]), "known")
    best: tuple[Decision, str] | None = None
    for other, pseudonym in index.candidates(traits):
        decision = compare(traits, other)
        if decision.outcome == "distinct":
            continue
        if best is None or (decision.outcome == "match", decision.score) > (best[0].outcome == "match", best[0].score):
            best = (decision, pseudonym)
    if best is not None and best[0].outcome == "match":
        return Assignment(ref, source_hash, best[1], "match", best[1], best[0].score, best[0].reason)
    own = base if base not in taken else _homonym_pseudonym(warehouse, base, source_hash)
    if best is not None:
        return Assignment(ref, source_hash, own, "possible", best[1], best[0].score, best[0].reason)
    return Assignment(ref, source_hash, own, "new")


def _homonym_pseudonym(warehouse: Warehouse, base: str, source_hash: str) -> str:
    """The pseudonym of a person whose identity's pseudonym another person already holds."""
    message = "$b || '|homonym|' || $h"
    row = warehouse.sql(f"SELECT {hmac_sql(message)}", {"b": base, "h": source_hash}).fetchone()
    if row is None:
        raise RuntimeError("DuckDB returned no row for a constant SELECT")
    return str(row[0])


def _vault_candidates(warehouse: Warehouse) -> list[tuple[Traits, str]]:
    """Records of the vault that may share a blocking key with an incoming record (a superset the index narrows:
    the birth date with day and month unordered, the birth year, the names)."""
    traits = _traits_sql("family", "used_family", "given", "birth_date", "sex", "birth_place", "ins")
    day_month = "least(day(birth), month(birth)) * 100 + greatest(day(birth), month(birth))"
    rows = warehouse.omop.execute(
        f"""WITH v AS (SELECT pseudonym, {traits} FROM vault.identity), n AS (SELECT * FROM temp.incoming)
            SELECT DISTINCT v.family, v.used, v.given, v.birth, v.sex, v.birth_place, v.ins, v.pseudonym FROM v
            WHERE year(v.birth) * 10000 + {day_month.replace("birth", "v.birth")}
                    IN (SELECT year(birth) * 10000 + {day_month} FROM n)
               OR year(v.birth) || left(v.family, 3) IN (SELECT year(birth) || left(family, 3) FROM n
                                                         UNION ALL SELECT year(birth) || left(used, 3) FROM n)
               OR year(v.birth) || left(v.used, 3) IN (SELECT year(birth) || left(family, 3) FROM n
                                                       UNION ALL SELECT year(birth) || left(used, 3) FROM n)
               OR v.family IN (SELECT family FROM n UNION ALL SELECT used FROM n)
               OR v.used IN (SELECT family FROM n UNION ALL SELECT used FROM n)
               OR v.ins IN (SELECT ins FROM n WHERE ins IS NOT NULL)"""
    ).fetchall()
    return [(_traits(tuple(r[:7])), str(r[7])) for r in rows]
