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

Blocking (:func:`blocking_keys_sql`): candidate pairs share the birth date (day and month in either order, so a
swap is found), or the birth year and the first three letters of a family name (birth or used), or a family name
and the first name (whatever the birth date), or the INS; records of the same feed are matched against each other
in order, then against the vault. Blocks stay of a few dozen records at a million identities (the birth year alone
gave ~12,000). The index is a DuckDB table of keys (never a Python structure growing with the warehouse); the
candidate pairs of a batch (at most :data:`BATCH_PAIRS`, whatever the blocks) are scored at once
(:func:`score_pairs`: RapidFuzz's ``process.cpdist`` for Jaro–Winkler, NumPy for the weights, the same arithmetic
as :func:`compare` in the same order). Each source record
keeps its own identity row in the vault (``vault.identity``, one row per source record, never overwritten by
another record), so a link can be reviewed and undone.

A new person's pseudonym is the keyed hash of its normalised identity (``family|given|birth date``, so that a
person who gives their name and birth date finds it); when another person already holds that pseudonym (a
homonym), the hash also covers the keyed hash of the source record, so the two stay apart.
"""

# ruff: noqa: S608 - SQL is assembled from constants; values and keys go as $parameters

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from rapidfuzz import process
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


# -- vectorised, in the warehouse -------------------------------------------------------------------------------
BATCH_RECORDS = 20_000  # at most this many incoming records are decided together
BATCH_PAIRS = 250_000  # at most this many candidate pairs (with both records' traits) are held at once
MEMORY_LIMIT = "1GB"  # DuckDB's memory while matching (its temporary tables spill, encrypted, beyond it)
VAULT_SEQ = -(10**12)  # vault records come before the incoming ones, in a fixed order
_FIELDS = ("family", "used", "given", "birth", "sex", "birth_place", "ins")


def _traits_sql(family: str, used: str, given: str, birth: str, sex: str, place: str, ins: str) -> str:
    """SQL of the normalised traits (family, used, given, birth, sex, birth_place, ins) from columns; an empty
    trait is NULL (not given)."""
    return (
        f"nullif({normalise_sql(family)}, '') AS family, nullif({normalise_sql(used)}, '') AS used, "
        f"nullif({normalise_sql(given)}, '') AS given, TRY_CAST({birth} AS DATE) AS birth, "
        f"nullif(lower({sex}), '') AS sex, nullif({normalise_sql(place)}, '') AS birth_place, "
        f"nullif({ins}, '') AS ins"
    )


def blocking_keys_sql(entries: str) -> str:
    """SQL of the blocking keys ``(seq, pos, k)`` of the records of ``entries`` (module docstring): the birth date
    with day and month unordered, the birth year with the first three letters of a family name (birth, then used),
    a family name (birth, then used) with the first name, the INS. ``pos`` is the key's rank in a record's list:
    a record's candidates are taken in the order of the first key they share, then of their arrival."""
    born = "year(birth) || '|' || least(day(birth), month(birth)) || '|' || greatest(day(birth), month(birth))"
    parts = [
        (0, f"'d|' || {born}", "birth IS NOT NULL"),
        (1, "'y|' || year(birth) || '|' || left(family, 3)", "birth IS NOT NULL AND family IS NOT NULL"),
        (2, "'y|' || year(birth) || '|' || left(used, 3)", "birth IS NOT NULL AND used IS NOT NULL"),
        (3, "'n|' || family || '|' || given", "given IS NOT NULL AND family IS NOT NULL"),
        (4, "'n|' || used || '|' || given", "given IS NOT NULL AND used IS NOT NULL"),
        (5, "'i|' || ins", "ins IS NOT NULL"),
    ]
    return " UNION ALL ".join(f"SELECT seq, {pos}::TINYINT AS pos, {key} AS k FROM {entries} WHERE {where}"
                              for pos, key, where in parts)  # fmt: skip


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


@dataclass(frozen=True)
class Scores:
    """How each pair of two aligned sets of records compares (:func:`score_pairs`), as :func:`compare` would."""

    outcome: np.ndarray  # 2 match, 1 possible, 0 distinct
    score: np.ndarray
    sex: np.ndarray  # both records give a sex, and not the same
    birth_place: np.ndarray  # likewise for the birthplace
    ins: np.ndarray  # both records carry an INS: it decided

    def reason(self, n: int) -> str:
        """Why pair ``n`` has its outcome, in :func:`compare`'s words."""
        if self.ins[n]:
            return "ins"
        if self.outcome[n] == 2:
            return "traits"
        return ", ".join(f for f, c in (("sex", self.sex[n]), ("birth_place", self.birth_place[n])) if c) or "score"


def _present(values: np.ndarray) -> np.ndarray:
    return np.asarray(values != None, dtype=bool)  # noqa: E711 - elementwise on an object array


def _similarity(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Jaro–Winkler of the pairs where both names are given (RapidFuzz ``process.cpdist``, one call per batch:
    the per-pair agreement of the blocks' candidate pairs), counted from :data:`STRING_AGREEMENT`; NaN elsewhere."""
    out = np.full(len(a), np.nan)
    where = np.flatnonzero(valid)
    if len(where):
        similarity = process.cpdist(
            a[where].tolist(), b[where].tolist(), scorer=JaroWinkler.similarity,
            scorer_kwargs={"prefix_weight": 0.1}, dtype=np.float64, workers=1,
        )  # fmt: skip
        out[where] = np.where(similarity >= STRING_AGREEMENT, similarity, 0.0)
    return out


def _equal(a: np.ndarray, b: np.ndarray, both: np.ndarray) -> np.ndarray:
    """Where both values are given, whether they are equal (elementwise on object arrays)."""
    return both & np.asarray(np.equal(a, b), dtype=bool)


def score_pairs(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> Scores:
    """:func:`compare` over aligned arrays of traits (``family``, ``used``, ``given``: object arrays of strings or
    ``None``; ``year``, ``month``, ``day``: integers, 0 when the birth date is not given; ``sex``,
    ``birth_place``, ``ins``: object arrays). The same arithmetic in the same order, so the same scores to the
    last bit."""
    given = {f: (_present(a[f]), _present(b[f])) for f in ("family", "used", "given")}
    family = np.full(len(a["family"]), np.nan)
    for x in ("family", "used"):
        for y in ("family", "used"):
            s = _similarity(a[x], b[y], given[x][0] & given[y][1])
            better = ~np.isnan(s) & (np.isnan(family) | (s > np.nan_to_num(family, nan=-1.0)))
            family = np.where(better, s, family)
    first = _similarity(a["given"], b["given"], given["given"][0] & given["given"][1])
    born = (a["year"] > 0) & (b["year"] > 0)
    swapped = (a["day"] != b["day"]) & (a["day"] == b["month"]) & (a["month"] == b["day"])
    day = np.where(swapped, SWAPPED_DATE, (a["day"] == b["day"]).astype(float))
    month = np.where(swapped, SWAPPED_DATE, (a["month"] == b["month"]).astype(float))
    year = (a["year"] == b["year"]).astype(float)
    parts = [("family", family, ~np.isnan(family)), ("given", first, ~np.isnan(first)), ("day", day, born),
             ("month", month, born), ("year", year, born)]  # fmt: skip
    conflicts = {}
    for field in ("sex", "birth_place"):
        both = _present(a[field]) & _present(b[field])
        same = _equal(a[field], b[field], both)
        parts.append((field, same.astype(float), both))
        conflicts[field] = both & ~same
    weighted, total = np.zeros(len(family)), np.zeros(len(family))
    for field, similarity, known in parts:  # summed in compare's order: equal to the last bit
        weighted = weighted + np.where(known, WEIGHT[field] * np.nan_to_num(similarity), 0.0)
        total = total + np.where(known, WEIGHT[field], 0.0)
    score = np.divide(weighted, total, out=np.zeros(len(total)), where=total > 0)
    conflict = conflicts["sex"] | conflicts["birth_place"]
    outcome = np.where((score >= MATCH) & ~conflict, 2, np.where(score >= POSSIBLE, 1, 0))
    ins = _present(a["ins"]) & _present(b["ins"])
    same_ins = _equal(a["ins"], b["ins"], ins)
    outcome = np.where(ins, np.where(same_ins, 2, 0), outcome)
    score = np.where(ins, np.where(same_ins, 1.0, 0.0), score)
    return Scores(outcome, score, conflicts["sex"], conflicts["birth_place"], ins)


def assign(
    warehouse: Warehouse, kind: str, source: str, *, batch_records: int = BATCH_RECORDS,
    batch_pairs: int = BATCH_PAIRS, memory_limit: str = MEMORY_LIMIT,
) -> list[Assignment]:  # fmt: skip
    """Decide the pseudonym of every complete record of ``temp.patients`` (``ref``, ``family``, ``used_family``,
    ``given``, ``birth``, ``gender``, ``birth_place``, ``ins``) fed from ``source``; writes
    ``temp.assigned(ref, pseudonym, source_hash)`` and returns the records linked to a person or queued for review
    (``match``, ``possible``).

    The vault must be attached. Records fed before keep their person; the others are matched in the order of their
    reference against the vault and the records before them (module docstring). The blocking index is a DuckDB
    table; candidate pairs are scored in batches of consecutive records (:func:`batches`) holding at most
    ``batch_records`` records and ``batch_pairs`` pairs, counted beforehand in DuckDB from the blocks
    (:func:`_pair_counts`); a record with more candidates than ``batch_pairs`` has them scored in slices
    (:func:`_best_candidates`). So what scoring holds is bounded whatever the blocks' sizes (batches of a fixed
    number of records held 2.5 million pairs and grew by 6.1 GiB at a million identities, ``bench/RESULTS.md``);
    what is left in Python is one pass giving each record its pseudonym. DuckDB's own memory (the records with
    their keyed hashes, the blocking index: DuckDB's temporary tables, which grow with the records) is held under
    ``memory_limit`` for the time of the matching, beyond which they spill, encrypted, into the warehouse's
    directory (:func:`santegarde.warehouse.engine.connect`).
    """
    con = warehouse.omop
    before = str((con.execute("SELECT current_setting('memory_limit')").fetchone() or ("",))[0])
    con.execute(f"SET memory_limit = '{memory_limit.replace(chr(39), '')}'")
    try:
        return _assign(warehouse, kind, source, batch_records, batch_pairs)
    finally:  # the default again (set anew, a limit shown rounded would shrink a little each time), or the former
        con.execute("RESET memory_limit")
        if str((con.execute("SELECT current_setting('memory_limit')").fetchone() or ("",))[0]) != before:
            con.execute(f"SET memory_limit = '{before}'")


def _assign(warehouse: Warehouse, kind: str, source: str, batch_records: int, batch_pairs: int) -> list[Assignment]:
    con = warehouse.omop
    traits = _traits_sql("family", "used_family", "given", "birth", "gender", "birth_place", "ins")
    warehouse.sql(
        f"""CREATE OR REPLACE TEMP TABLE incoming AS
            SELECT row_number() OVER (ORDER BY ref) AS seq, *, {hmac_sql("base || '|homonym|' || source_hash")} AS alt
            FROM (SELECT ref, {hmac_sql("$src || '|' || ref", "mk")} AS source_hash,
                         {hmac_sql(identity_message_sql("family", "given", "birth"))} AS base, {traits}
                  FROM temp.patients
                  WHERE family IS NOT NULL AND given IS NOT NULL AND TRY_CAST(birth AS DATE) IS NOT NULL)""",
        {"src": source},
    )
    raw = [str(v) for (v,) in con.execute("SELECT DISTINCT ins FROM temp.incoming WHERE ins IS NOT NULL").fetchall()]
    if raw:
        checked = [checked_ins(v) for v in raw]
        _temp_table(warehouse, "ins_checked", {"raw": pa.array(raw, pa.string()),
                                               "ins": pa.array(checked, pa.string())})  # fmt: skip
        con.execute("UPDATE temp.incoming n SET ins = c.ins FROM temp.ins_checked c WHERE n.ins = c.raw")
    _index(warehouse, kind)
    total = int((con.execute("SELECT count(*) FROM temp.incoming").fetchone() or (0,))[0])
    taken = {str(p) for (p,) in con.execute(
        "SELECT DISTINCT i.pseudonym FROM vault.identity i JOIN temp.incoming n ON i.pseudonym = n.base"
    ).fetchall()}  # fmt: skip
    pseudonyms: list[str] = []
    decided: list[tuple[int, str, str | None, float | None, str]] = []
    for lo, hi, held in batches(_pair_counts(con), batch_records, batch_pairs):
        best = _best_candidates(con, lo, hi, batch_pairs if held > batch_pairs else None)
        rows = con.execute(
            "SELECT seq, known, base, alt FROM temp.incoming WHERE seq BETWEEN $lo AND $hi ORDER BY seq",
            {"lo": lo, "hi": hi},
        ).fetchall()
        for seq, known, base, alt in rows:
            found = best.get(seq)
            if known is not None:
                pseudonym = str(known)
            elif found is not None and found[0] == 2:
                pseudonym = _pseudonym_of(found[1], pseudonyms)
                decided.append((seq, "match", pseudonym, found[2], found[3]))
            else:
                pseudonym = str(base) if base not in taken else str(alt)
                if found is not None:
                    decided.append((seq, "possible", _pseudonym_of(found[1], pseudonyms), found[2], found[3]))
            taken.add(pseudonym)
            pseudonyms.append(pseudonym)
    _temp_table(warehouse, "assigned_seq", {"seq": pa.array(range(1, total + 1), type=pa.int64()),
                                             "pseudonym": pa.array(pseudonyms, type=pa.string())})  # fmt: skip
    con.execute(
        """CREATE OR REPLACE TEMP TABLE assigned AS
           SELECT n.ref, a.pseudonym, n.source_hash FROM temp.assigned_seq a JOIN temp.incoming n USING (seq)
           ORDER BY n.seq"""
    )
    refs = dict(con.execute("SELECT seq, ref || chr(0) || source_hash FROM temp.incoming WHERE seq IN (SELECT "
                            "unnest($s))", {"s": [d[0] for d in decided]}).fetchall()) if decided else {}  # fmt: skip
    for table in ("assigned_seq", "match_entry", "match_key"):
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    out = []
    for seq, outcome, candidate, score, reason in decided:
        ref, source_hash = str(refs[seq]).split(chr(0))
        out.append(Assignment(ref, source_hash, pseudonyms[seq - 1], outcome, candidate, score, reason))
    return out


def _pseudonym_of(candidate: int | str, pseudonyms: list[str]) -> str:
    """A candidate's pseudonym: a vault record's own, or the one given to an incoming record before (its seq)."""
    return candidate if isinstance(candidate, str) else pseudonyms[candidate - 1]


def _index(warehouse: Warehouse, kind: str) -> None:
    """``temp.match_entry``: every record that can be a candidate (the vault's, in a fixed order, then the incoming
    ones with the pseudonym of a record fed before, ``known``); ``temp.match_key``: their blocking keys, the vault's
    only where an incoming record shares them."""
    con = warehouse.omop
    vault = _traits_sql("family", "used_family", "given", "birth_date", "sex", "birth_place", "ins")
    fields = ", ".join(_FIELDS)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE incoming AS
            SELECT n.*, k.pseudonym AS known FROM temp.incoming n
            LEFT JOIN (SELECT source_hash, any_value(pseudonym) AS pseudonym FROM vault.identity WHERE kind = $kind
                       GROUP BY source_hash) k USING (source_hash)""",
        {"kind": kind},
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE match_key AS {blocking_keys_sql('temp.incoming')}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE vault_entry AS
            SELECT row_number() OVER (ORDER BY {fields}, pseudonym) + {VAULT_SEQ} AS seq, *
            FROM (SELECT DISTINCT {fields}, pseudonym FROM (SELECT pseudonym, {vault} FROM vault.identity))"""
    )
    con.execute(
        f"""INSERT INTO temp.match_key SELECT * FROM ({blocking_keys_sql("temp.vault_entry")})
            WHERE k IN (SELECT k FROM temp.match_key)"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE match_entry AS
            SELECT seq, {fields}, pseudonym, NULL::VARCHAR AS known FROM temp.vault_entry
            WHERE seq IN (SELECT seq FROM temp.match_key WHERE seq < 0)
            UNION ALL SELECT seq, {fields}, NULL, known FROM temp.incoming"""
    )
    con.execute("DROP TABLE temp.vault_entry")


def _side(table: pa.Table, prefix: str) -> dict[str, np.ndarray]:
    side = {f: table.column(f"{prefix}{f}").to_numpy(zero_copy_only=False)
            for f in ("family", "used", "given", "sex", "birth_place", "ins")}  # fmt: skip
    for part in ("year", "month", "day"):
        side[part] = table.column(f"{prefix}{part}").fill_null(0).to_numpy(zero_copy_only=False)
    return side


def batches(pairs: np.ndarray, records: int, most: int) -> Iterator[tuple[int, int, int]]:
    """Consecutive ranges ``(lo, hi, held)`` of the incoming records (seq from 1; ``pairs[seq - 1]``: how many
    candidate pairs a record has at most) with at most ``records`` records and ``most`` pairs each (``held``): a
    record with more than ``most`` pairs is a range of its own, whose pairs are then scored in slices."""
    lo, held = 1, 0
    for seq, n in enumerate(pairs.tolist(), start=1):
        if seq > lo and (held + n > most or seq - lo >= records):
            yield lo, seq - 1, held
            lo, held = seq, 0
        held += n
    if lo <= len(pairs):
        yield lo, len(pairs), held


def _pair_counts(con: Any) -> np.ndarray:
    """For each incoming record in seq order, at least how many candidate pairs it has: the sum over its blocking
    keys of the records before it sharing the key (a pair sharing two keys is counted twice); 0 for a record fed
    before (it is not matched). Counted in DuckDB, never by forming the pairs."""
    return (
        con.execute(
            """WITH key AS (SELECT DISTINCT seq, k FROM temp.match_key),
                    earlier AS (SELECT seq, count(*) OVER (PARTITION BY k ORDER BY seq
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS n FROM key),
                    per AS (SELECT seq, sum(n) AS n FROM earlier WHERE seq > 0 GROUP BY seq)
               SELECT CASE WHEN i.known IS NULL THEN coalesce(p.n, 0) ELSE 0 END::BIGINT AS n
               FROM temp.incoming i LEFT JOIN per p USING (seq) ORDER BY i.seq"""
        )
        .fetch_arrow_table()
        .column("n")
        .to_numpy()
    )


Best = tuple[int, int | str, float, str]  # outcome, candidate (an incoming record's seq or a pseudonym), score, why
_ALL = (VAULT_SEQ * 1000, 2**62)  # every candidate seq


def _best_candidates(con: Any, lo: int, hi: int, slices: int | None = None) -> dict[int, Best]:
    """For each incoming record ``lo..hi`` not fed before, its best candidate that is not distinct: ``(outcome,
    candidate, score, reason)``, the candidate a seq of an incoming record or a vault record's pseudonym. Best is a
    match before a possible match, then the highest score, then the earliest candidate (first key shared, then
    arrival), as a record was compared one candidate after another. With ``slices`` (one record, ``lo == hi``),
    its candidates are scored ``slices`` at a time (by ranges of their seq) and the best of the slices kept: that
    order is total, so the result is the same as in one go."""
    if slices is None:
        return {i: best for i, (_, best) in _scored(con, lo, hi, _ALL).items()}
    bounds = con.execute(
        """SELECT min(j), max(j) FROM (
               SELECT j, (row_number() OVER (ORDER BY j) - 1) // $size AS part
               FROM (SELECT DISTINCT b.seq AS j FROM temp.match_key a
                     JOIN temp.match_key b ON a.k = b.k AND b.seq < a.seq WHERE a.seq BETWEEN $lo AND $hi))
           GROUP BY part ORDER BY part""",
        {"size": slices, "lo": lo, "hi": hi},
    ).fetchall()
    kept: dict[int, tuple[tuple[int, float, int, int], Best]] = {}
    for jlo, jhi in bounds:
        for i, found in _scored(con, lo, hi, (int(jlo), int(jhi))).items():
            if i not in kept or found[0] < kept[i][0]:
                kept[i] = found
    return {i: best for i, (_, best) in kept.items()}


def _scored(
    con: Any, lo: int, hi: int, candidates: tuple[int, int]
) -> dict[int, tuple[tuple[int, float, int, int], Best]]:
    """:func:`_best_candidates` over the candidates whose seq is in ``candidates`` (bounds included), each best
    with its rank (smaller is better)."""
    side = "{p}.family AS {p}family, {p}.used AS {p}used, {p}.given AS {p}given, year({p}.birth) AS {p}year, " \
           "month({p}.birth) AS {p}month, day({p}.birth) AS {p}day, {p}.sex AS {p}sex, " \
           "{p}.birth_place AS {p}birth_place, {p}.ins AS {p}ins"  # fmt: skip
    pairs = con.execute(
        f"""WITH pair AS (
                SELECT a.seq AS i, b.seq AS j, min(a.pos) AS pos
                FROM temp.match_key a JOIN temp.match_key b ON a.k = b.k AND b.seq < a.seq
                WHERE a.seq BETWEEN $lo AND $hi AND b.seq BETWEEN $jlo AND $jhi GROUP BY a.seq, b.seq)
            SELECT p.i, p.j, p.pos, y.pseudonym AS candidate, {side.format(p="x")}, {side.format(p="y")}
            FROM pair p JOIN temp.match_entry x ON x.seq = p.i JOIN temp.match_entry y ON y.seq = p.j
            WHERE x.known IS NULL""",
        {"lo": lo, "hi": hi, "jlo": candidates[0], "jhi": candidates[1]},
    ).fetch_arrow_table()
    if pairs.num_rows == 0:
        return {}
    scores = score_pairs(_side(pairs, "x"), _side(pairs, "y"))
    kept = np.flatnonzero(scores.outcome > 0)
    i = pairs.column("i").to_numpy()[kept]
    j = pairs.column("j").to_numpy()[kept]
    pos = pairs.column("pos").to_numpy()[kept]
    outcome, score = scores.outcome[kept], scores.score[kept]
    order = np.lexsort((j, pos, -score, -outcome, i))
    first = order[np.r_[True, i[order][1:] != i[order][:-1]]] if len(order) else order
    candidate = pairs.column("candidate").to_numpy(zero_copy_only=False)[kept]
    return {
        int(i[n]): ((-int(outcome[n]), -float(score[n]), int(pos[n]), int(j[n])),
                    (int(outcome[n]), str(candidate[n]) if j[n] < 0 else int(j[n]), float(score[n]),
                     scores.reason(int(kept[n]))))
        for n in first
    }  # fmt: skip


def _temp_table(warehouse: Warehouse, name: str, columns: Mapping[str, pa.Array]) -> None:
    """``temp.<name>`` written in one Arrow batch (a row-by-row insert took half of matching)."""
    view = f"__{name}_batch"
    warehouse.omop.register(view, pa.table(dict(columns)))
    try:
        warehouse.omop.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
    finally:
        warehouse.omop.unregister(view)
