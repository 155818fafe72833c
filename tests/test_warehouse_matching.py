"""Identity matching (issue 15, fault 2): homonyms stay apart, the same person is linked across sources and typos.

Hand-built FHIR bundles (fictitious identities); each patient carries conditions coded with its own id, so the
test reads which records ended on the same person from the OMOP store.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from santegarde.identifiers.nir import make_nir
from santegarde.identifiers.systems import INS_TEST_SYSTEM
from santegarde.warehouse import Warehouse, WarehouseError, matching
from santegarde.warehouse.access import WarehouseGuard
from santegarde.warehouse.feed import DataList
from santegarde.warehouse.matching import (
    MATCH,
    POSSIBLE,
    STRING_AGREEMENT,
    Traits,
    _traits_sql,
    assign,
    batches,
    blocking_keys_sql,
    compare,
    jaro_winkler,
    score_pairs,
)
from santegarde.warehouse.omop import IDENTITY_DDL
from santegarde.warehouse.pseudonym import person_id_of
from test_warehouse_core import FEEDER, FULL, STEWARD
from warehouse_governance_fixtures import warehouse_guard

BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
LYON_1980 = make_nir(male=True, year=1980, month=3, department="69", commune=123, order=45)
NANTES_1980 = make_nir(male=False, year=1980, month=3, department="44", commune=109, order=12)


@pytest.fixture
def guard(tmp_path: Path) -> WarehouseGuard:
    return warehouse_guard(tmp_path, FEEDER.login, STEWARD.login)


@pytest.fixture
def wh(tmp_path: Path, guard: WarehouseGuard) -> Iterator[Warehouse]:
    warehouse = Warehouse.open(tmp_path / "warehouse", guard.identity.keyring, guard=guard)
    yield warehouse
    warehouse.close()


def patient(
    pid: str, family: str, given: str, birth: str, gender: str, *, ins: str | None = None,
    place: str | None = None, usual: str | None = None, city: str = "Fictiville",
) -> list[dict[str, Any]]:  # fmt: skip
    """A Patient and two conditions coded ``C-<pid>``."""
    names: list[dict[str, Any]] = [{"use": "official", "family": family, "given": [given]}]
    if usual:
        names.append({"use": "usual", "family": usual, "given": [given]})
    resource: dict[str, Any] = {
        "resourceType": "Patient", "id": pid, "name": names, "birthDate": birth, "gender": gender,
        "address": [{"line": [f"{len(pid)} rue des Essais"], "postalCode": "00000", "city": city}],
    }  # fmt: skip
    if ins:
        resource["identifier"] = [{"system": INS_TEST_SYSTEM, "value": ins}]
    if place:
        resource["extension"] = [{"url": BIRTH_PLACE, "valueAddress": {"city": place}}]
    conditions = [
        {"resourceType": "Condition", "id": f"{pid}-{n}", "subject": {"reference": f"Patient/{pid}"},
         "code": {"coding": [{"code": f"C-{pid}"}]}, "onsetDateTime": f"2024-0{n}-01"}
        for n in (1, 2)
    ]  # fmt: skip
    return [resource, *conditions]


def feed(wh: Warehouse, tmp_path: Path, source: str, *patients: list[dict[str, Any]]) -> Any:
    path = tmp_path / f"{source}.json"
    entries = [{"resource": r} for group in patients for r in group]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}), encoding="utf-8")
    return wh.feed_fhir([path], DataList.from_mapping(FULL), source=source, operator=FEEDER)


def persons(wh: Warehouse) -> dict[str, int]:
    """Each patient id (from its conditions' codes) → its OMOP person_id."""
    rows = wh.omop.execute(
        "SELECT DISTINCT substr(condition_source_value, 3), person_id FROM omop.condition_occurrence"
    ).fetchall()
    return {str(code): int(person) for code, person in rows}


def test_homonyms_with_different_ins_sex_and_birthplace_stay_two_persons(wh: Warehouse, tmp_path: Path) -> None:
    """The issue's reproduction: same name and birth date, different INS, sex, birthplace and address."""
    feed(wh, tmp_path, "dpi-a",
         patient("a", "BERNARD", "Camille", "1980-03-07", "male", ins=LYON_1980, place="Lyon", city="Lyon"),
         patient("b", "BERNARD", "Camille", "1980-03-07", "female", ins=NANTES_1980, place="Nantes",
                 city="Nantes"))  # fmt: skip
    who = persons(wh)
    assert who["a"] != who["b"]
    counts = dict(wh.omop.execute("SELECT person_id, count(*) FROM omop.condition_occurrence GROUP BY 1").fetchall())
    assert counts == {who["a"]: 2, who["b"]: 2}
    with wh.vault_connection() as con:
        kept = con.execute("SELECT city, ins FROM vault.identity ORDER BY city").fetchall()
    assert kept == [("Lyon", LYON_1980), ("Nantes", NANTES_1980)]
    # fed again, from the same source: same two persons, nothing overwritten, nothing queued
    feed(wh, tmp_path, "dpi-a",
         patient("b", "BERNARD", "Camille", "1980-03-07", "female", ins=NANTES_1980, place="Nantes", city="Nantes"),
         patient("a", "BERNARD", "Camille", "1980-03-07", "male", ins=LYON_1980, place="Lyon",
                 city="Lyon"))  # fmt: skip
    assert persons(wh) == who
    with wh.vault_connection() as con:
        assert con.execute("SELECT count(*) FROM vault.identity").fetchone() == (2,)
        assert con.execute("SELECT count(*) FROM vault.identity_review").fetchone() == (0,)


def test_homonyms_without_ins_stay_apart_on_sex_and_birthplace(wh: Warehouse, tmp_path: Path) -> None:
    feed(wh, tmp_path, "dpi-a", patient("a", "BERNARD", "Camille", "1980-03-07", "male", place="Lyon"))
    feed(wh, tmp_path, "dpi-b", patient("b", "BERNARD", "Camille", "1980-03-07", "female", place="Nantes"))
    who = persons(wh)
    assert who["a"] != who["b"]


def test_the_same_person_is_linked_across_sources_through_typos_swaps_and_marriage(
    wh: Warehouse, tmp_path: Path
) -> None:
    feed(wh, tmp_path, "dpi-a",
         patient("dupont", "DUPONT", "Lucienne", "1950-03-07", "female", place="Rennes"),
         patient("martin", "MARTIN", "Julie", "1985-05-06", "female", place="Lyon"),
         patient("lucas", "PETIT", "Lucas", "2001-09-10", "male", place="Brest"),
         patient("ins", "ROUX", "Marcel", "1980-03-15", "male", ins=LYON_1980))  # fmt: skip
    feed(wh, tmp_path, "dpi-b",
         # a typo in the family name and the day and month swapped
         patient("dupond", "DUPOND", "Lucienne", "1950-07-03", "female", place="Rennes"),
         # married: the used name changed, the birth name is the same
         patient("durand", "MARTIN", "Julie", "1985-05-06", "female", place="Lyon", usual="DURAND"),
         # the twin brother: same family, birth date and birthplace, another first name
         patient("louis", "PETIT", "Louis", "2001-09-10", "male", place="Brest"),
         # the INS decides, whatever the spelling
         patient("ins2", "ROUXE", "Marcelle", "1980-03-15", "male", ins=LYON_1980))  # fmt: skip
    feed(wh, tmp_path, "dpi-c",
         # only the used name is known to this source
         patient("usual", "DURAND", "Julie", "1985-05-06", "female", place="Lyon"),
         # a wrong INS key links nothing; another valid INS separates even perfect homonyms
         patient("other-ins", "ROUX", "Marcel", "1980-03-15", "male", ins=NANTES_1980))  # fmt: skip
    who = persons(wh)
    assert who["dupont"] == who["dupond"]
    assert who["martin"] == who["durand"]
    assert who["lucas"] != who["louis"]
    assert who["ins"] == who["ins2"]
    assert who["other-ins"] != who["ins"]
    with wh.vault_connection() as con:
        # every source record keeps its identity row; linked records share the person
        rows = con.execute("SELECT family, pseudonym FROM vault.identity WHERE given = 'Julie'").fetchall()
    assert sorted(f for f, _ in rows) == ["DURAND", "MARTIN", "MARTIN"] and len({p for _, p in rows}) == 1


def test_a_possible_match_is_queued_for_review_never_merged(wh: Warehouse, tmp_path: Path) -> None:
    feed(wh, tmp_path, "dpi-a", patient("a", "LEROY", "Dominique", "1960-01-02", "male", place="Metz"))
    report = feed(wh, tmp_path, "dpi-b", patient("b", "LEROY", "Dominique", "1960-01-02", "female", place="Metz"))
    who = persons(wh)
    assert who["a"] != who["b"]
    assert any("identity-vigilance review" in r.reason for r in report.refused)
    with wh.vault_connection() as con:
        queued = con.execute("SELECT pseudonym, candidate, reason, status FROM vault.identity_review").fetchall()
    assert [(person_id_of(p), person_id_of(c), why, status) for p, c, why, status in queued] == [
        (who["b"], who["a"], "sex", "open")
    ]


def _reference_jaro_winkler(a: str, b: str) -> float:
    """Jaro–Winkler written out (Winkler's prefix bonus on any Jaro value): the oracle of the compiled one."""
    if a == b:
        return 1.0
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    taken_a, taken_b = [False] * len(a), [False] * len(b)
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not taken_b[j] and b[j] == ch:
                taken_a[i] = taken_b[j] = True
                break
    matches = sum(taken_a)
    if not matches:
        return 0.0
    in_a = [c for c, t in zip(a, taken_a, strict=True) if t]
    in_b = [c for c, t in zip(b, taken_b, strict=True) if t]
    half = sum(x != y for x, y in zip(in_a, in_b, strict=True)) / 2
    jaro = (matches / len(a) + matches / len(b) + (matches - half) / matches) / 3
    prefix = next((i for i, (x, y) in enumerate(zip(a[:4], b[:4], strict=False)) if x != y), min(4, len(a), len(b)))
    return jaro + prefix * 0.1 * (1 - jaro)


def test_the_compiled_jaro_winkler_agrees_with_the_method_wherever_it_decides() -> None:
    names = ["DUPONT", "DUPOND", "MARTHA", "MARHTA", "LUCIENNE", "LUCIENE", "DURAND", "DURANT", "LEROY", "LEROI",
             "PETIT", "PETITE", "LOUIS", "LUCAS", "JULIE", "JULES", "DIXON", "DICKSONX", "AB", "BA", "A", "X"]
    for a in names:
        for b in names:
            compiled, reference = jaro_winkler(a, b), _reference_jaro_winkler(a, b)
            # equal above the agreement threshold; both under it otherwise (the bonus is skipped below Jaro 0.7)
            assert (compiled >= STRING_AGREEMENT) == (reference >= STRING_AGREEMENT), (a, b)
            if reference >= STRING_AGREEMENT:
                assert compiled == pytest.approx(reference, abs=1e-12), (a, b)
    assert jaro_winkler("MARTHA", "MARHTA") == pytest.approx(0.9611, abs=1e-4)


def _candidates(records: list[Traits]) -> dict[int, set[int]]:
    """Each record's candidates (records sharing a blocking key), from the SQL blocking index."""
    con = duckdb.connect()
    con.register("e", pa.table({"seq": range(len(records)), **{f: [getattr(r, f) for r in records]
                                for f in ("family", "used", "given", "birth", "ins")}}))  # fmt: skip
    pairs = con.execute(
        f"""WITH k AS ({blocking_keys_sql("e")})
            SELECT DISTINCT a.seq, b.seq FROM k a JOIN k b ON a.k = b.k AND a.seq <> b.seq"""
    ).fetchall()
    found: dict[int, set[int]] = {n: set() for n in range(len(records))}
    for a, b in pairs:
        found[a].add(b)
    return found


def test_blocking_keeps_typos_swaps_and_marriages_together_and_blocks_small() -> None:
    born = date(1950, 3, 7)
    records = [Traits("DUPONT", None, "LUCIENNE", born, "female", None, None),
               Traits("MARTIN", "DURAND", "JULIE", date(1985, 5, 6), "female", None, None)]  # fmt: skip
    # 2,000 other persons born in 1950: the birth year alone would have put them all in the block
    for n in range(2000):
        born_z = date.fromordinal(date(1950, 1, 1).toordinal() + n % 365)
        records.append(Traits(f"Z{n:04d}", None, "PAUL", born_z, "male", None, None))
    found = {
        "typo in the family name": Traits("DUPOND", None, "LUCIENNE", born, "female", None, None),
        "day and month swapped, a typo": Traits("DUPOND", None, "LUCIENNE", date(1950, 7, 3), "female", None, None),
        "typo in the day": Traits("DUPONT", None, "LUCIENNE", date(1950, 3, 8), "female", None, None),
        "wrong year": Traits("DUPONT", None, "LUCIENNE", date(1951, 3, 7), "female", None, None),
        "used name only": Traits("DURAND", None, "JULIE", date(1985, 5, 6), "female", None, None),
    }
    first = len(records)
    candidates = _candidates([*records, *found.values()])
    for n, case in enumerate(found):
        of_case = {c for c in candidates[first + n] if c < first}
        assert of_case & {0, 1}, case
        assert len(of_case) <= 2 * 2000 // 365 + 3, case  # a birth date (either order) shared, not a year


# -- the vectorised path gives the pairs of the record-by-record method ---------------------------------------------
def _keys(t: Traits) -> list[tuple[object, ...]]:
    """The blocking keys of one record as the method states them (module docstring of matching)."""
    keys: list[tuple[object, ...]] = []
    names = [n for n in (t.family, t.used) if n]
    if t.birth:
        keys.append(("date", t.birth.year, min(t.birth.day, t.birth.month), max(t.birth.day, t.birth.month)))
        keys.extend(("year", t.birth.year, name[:3]) for name in names)
    if t.given:
        keys.extend(("name", name, t.given) for name in names)
    if t.ins:
        keys.append(("ins", t.ins))
    return keys


def _one_by_one(vault: list[tuple[Traits, str]], incoming: list[tuple[Traits, str | None, str, str]],
                taken: set[str]) -> list[tuple[str, str, str | None, float | None]]:  # fmt: skip
    """Matching as it was done before vectorisation: a dictionary index, then :func:`compare` for each candidate,
    one record after another. ``incoming``: (traits, pseudonym if fed before, base, homonym pseudonym)."""
    index: dict[tuple[object, ...], list[tuple[Traits, str]]] = {}

    def add(traits: Traits, pseudonym: str) -> None:
        for key in _keys(traits):
            index.setdefault(key, []).append((traits, pseudonym))

    for traits, pseudonym in vault:
        add(traits, pseudonym)
    out: list[tuple[str, str, str | None, float | None]] = []
    for traits, known, base, alt in incoming:
        seen: dict[int, tuple[Traits, str]] = {}
        for key in _keys(traits):
            for entry in index.get(key, ()):
                seen.setdefault(id(entry), entry)
        best: tuple[Any, str] | None = None
        for other, pseudonym in seen.values() if known is None else ():
            decision = compare(traits, other)
            if decision.outcome != "distinct" and (best is None or (decision.outcome == "match", decision.score) > (
                    best[0].outcome == "match", best[0].score)):  # fmt: skip
                best = (decision, pseudonym)
        if known is not None:
            result = (known, "known", None, None)
        elif best is not None and best[0].outcome == "match":
            result = (best[1], "match", best[1], best[0].score)
        else:
            own = base if base not in taken else alt
            result = (own, "possible", best[1], best[0].score) if best else (own, "new", None, None)
        taken.add(result[0])
        add(traits, result[0])
        out.append(result)
    return out


def _generated(n: int, seed: int) -> list[dict[str, Any]]:
    """Fictitious identities crowded into few names and dates: homonyms, twins, typos, swaps, marriages, INS."""
    rng = random.Random(seed)
    families, firsts = ["MARTIN", "MARTINE", "DUPONT", "DUPOND", "LEROY", "LEROI"], ["JULIE", "JULES", "PAUL", "ANNE"]
    inses = [make_nir(male=True, year=1980, month=3, department="69", commune=c, order=1) for c in range(1, 6)]
    records = []
    for i in range(n):
        born = date(1980, rng.randint(1, 3), rng.randint(1, 3))
        records.append({
            "ref": f"Patient/{seed}-{i}", "family": rng.choice(families), "given": rng.choice(firsts),
            "used_family": rng.choice([None, None, "DURAND", "DURANT"]), "birth": born.isoformat(),
            "gender": rng.choice(["male", "female", None]), "birth_place": rng.choice(["LYON", "METZ", None]),
            "ins": rng.choice([None, None, None, rng.choice(inses), inses[0][:-2] + "00"]),
        })  # fmt: skip
    return records


def _assign(wh: Warehouse, records: list[dict[str, Any]], **batch: Any) -> tuple[list[Any], list[Any]]:
    """Run :func:`assign` on ``records`` in ``wh`` (vault attached; ``batch``: its batch sizes); returns what the
    method needs to replay it (the vault's records, the incoming ones in order) and the pseudonyms decided."""
    columns = ("ref", "family", "used_family", "given", "birth", "gender", "birth_place", "ins")
    given = pa.table({c: pa.array([r[c] for r in records], pa.string()) for c in columns})  # noqa: F841
    wh.omop.execute("CREATE OR REPLACE TEMP TABLE patients AS SELECT * FROM given")
    fields = "family, used, given, birth, sex, birth_place, ins"
    vault = [(Traits(*row[:7]), str(row[7])) for row in wh.omop.execute(
        f"""SELECT DISTINCT {fields}, pseudonym FROM (SELECT pseudonym, {_traits_sql(
            "family", "used_family", "given", "birth_date", "sex", "birth_place", "ins")} FROM vault.identity)
            ORDER BY {fields}, pseudonym""").fetchall()]  # fmt: skip
    decided = {a.ref: a for a in assign(wh, "fhir:Patient", "src", **batch)}
    incoming = wh.omop.execute(f"SELECT {fields}, known, base, alt, ref FROM temp.incoming ORDER BY seq").fetchall()
    taken = {p for (p,) in wh.omop.execute("SELECT DISTINCT pseudonym FROM vault.identity").fetchall()}
    taken &= {str(row[8]) for row in incoming}
    expected = _one_by_one(vault, [(Traits(*row[:7]), row[7], row[8], row[9]) for row in incoming], taken)
    got = dict(wh.omop.execute("SELECT ref, pseudonym FROM temp.assigned").fetchall())
    actual = []
    for row in incoming:
        a = decided.get(row[10])
        outcome = a.outcome if a else ("known" if row[7] is not None else "new")
        actual.append((got[row[10]], outcome, a.candidate if a else None, a.score if a else None))
    return expected, actual


def test_the_vectorised_matching_gives_the_pairs_of_the_record_by_record_method(wh: Warehouse) -> None:
    """Homonyms, twins, typos, inverted dates, used names and INS crowded into a few blocks: every record gets
    the pseudonym, the outcome, the candidate and the score (to the last bit) of the method applied one record and
    one candidate after another — against the feed's own records first, then against a vault holding them."""
    first, second = _generated(300, 1), _generated(300, 2)
    with wh.vault_connection() as con:
        expected, actual = _assign(wh, first)
        assert actual == expected
        outcomes = {o for _, o, _, _ in actual}
        assert {"match", "possible", "new"} <= outcomes
        con.execute(
            """INSERT INTO vault.identity (pseudonym, family, given, sex, birth_date, birth_place, ins, used_family,
                                           kind, source_hash)
               SELECT a.pseudonym, p.family, p.given, p.gender, p.birth::DATE, p.birth_place, p.ins, p.used_family,
                      'fhir:Patient', a.source_hash
               FROM temp.patients p JOIN temp.assigned a USING (ref)"""
        )
        # the same records again (all known) with new ones: matched against the vault
        expected, actual = _assign(wh, first[:50] + second)
        assert actual == expected
        assert {"known", "match", "possible"} <= {o for _, o, _, _ in actual}


def test_batches_hold_at_most_their_records_and_pairs_and_a_crowded_record_stands_alone() -> None:
    counts = np.array([0, 3, 4, 0, 9, 1, 1, 1, 0, 0, 2])
    got = list(batches(counts, 3, 5))
    assert got == [(1, 2, 3), (3, 4, 4), (5, 5, 9), (6, 8, 3), (9, 11, 2)]
    assert [seq for lo, hi, _ in got for seq in range(lo, hi + 1)] == list(range(1, 12))  # each record once, in order
    assert list(batches(np.array([], dtype=np.int64), 3, 5)) == []


def test_pairs_are_scored_a_bounded_number_at_a_time_with_the_same_decisions(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crowded blocks (300 records over a few names and dates: some records have well over a hundred candidates)
    with batches of at most 40 pairs and 7 records: no scoring call holds more than 40 pairs, crowded records have
    their candidates scored in slices, and every record gets the pseudonym, outcome, candidate and score (to the last
    bit) of the record-by-record method — and of one batch holding everything."""
    held: list[int] = []
    ranges: list[tuple[int, int, int]] = []
    score, batched = matching.score_pairs, matching.batches

    def counted(a: dict[str, Any], b: dict[str, Any]) -> Any:
        held.append(len(a["family"]))
        return score(a, b)

    def recorded(*args: Any) -> Any:
        out = list(batched(*args))
        ranges.extend(out)
        return iter(out)

    monkeypatch.setattr(matching, "score_pairs", counted)
    monkeypatch.setattr(matching, "batches", recorded)
    first, second = _generated(300, 3), _generated(120, 4)
    with wh.vault_connection() as con:
        expected, actual = _assign(wh, first, batch_records=7, batch_pairs=40)
        assert max(held) <= 40
        assert any(n > 100 for _, _, n in ranges)  # records with over 100 candidates: scored in slices
        assert all(lo == hi for lo, hi, n in ranges if n > 40)
        assert actual == expected
        assert {"match", "possible", "new"} <= {o for _, o, _, _ in actual}
        ranges.clear()
        whole = _assign(wh, first, batch_records=10**6, batch_pairs=10**9)[1]
        assert whole == actual and max(held) > 1000
        con.execute(
            """INSERT INTO vault.identity (pseudonym, family, given, sex, birth_date, birth_place, ins, used_family,
                                           kind, source_hash)
               SELECT a.pseudonym, p.family, p.given, p.gender, p.birth::DATE, p.birth_place, p.ins, p.used_family,
                      'fhir:Patient', a.source_hash
               FROM temp.patients p JOIN temp.assigned a USING (ref)"""
        )
        held.clear()
        ranges.clear()
        expected, actual = _assign(wh, first[:20] + second, batch_records=5, batch_pairs=25)  # against the vault
        assert max(held) <= 25
        assert actual == expected
        assert {"known", "match", "possible"} <= {o for _, o, _, _ in actual}


def test_scores_of_a_batch_are_those_of_compare_to_the_last_bit() -> None:
    rng = random.Random(7)
    names = [None, "DUPONT", "DUPOND", "DUPONTE", "MARTIN", "MARTHA", "MARHTA", "LEROY"]
    traits = [
        Traits(rng.choice(names[1:]), rng.choice(names), rng.choice([None, "JULIE", "JULES", "JULIA"]),
               rng.choice([None, date(1980, 3, 7), date(1980, 7, 3), date(1981, 3, 7), date(1980, 3, 8)]),
               rng.choice([None, "male", "female"]), rng.choice([None, "LYON", "METZ"]),
               rng.choice([None, None, "1800369123001", "2800344109012"]))
        for _ in range(3000)
    ]  # fmt: skip
    pairs = [(rng.choice(traits), rng.choice(traits)) for _ in range(3000)]

    def side(records: list[Traits]) -> dict[str, Any]:
        out = {f: np.array([getattr(t, f) for t in records], dtype=object)
               for f in ("family", "used", "given", "sex", "birth_place", "ins")}  # fmt: skip
        for part in ("year", "month", "day"):
            out[part] = np.array([getattr(t.birth, part) if t.birth else 0 for t in records])
        return out

    scores = score_pairs(side([a for a, _ in pairs]), side([b for _, b in pairs]))
    outcome = {2: "match", 1: "possible", 0: "distinct"}
    for n, (a, b) in enumerate(pairs):
        decision = compare(a, b)
        assert (outcome[int(scores.outcome[n])], float(scores.score[n])) == (decision.outcome, decision.score)
        if decision.outcome != "distinct":
            assert scores.reason(n) == decision.reason


def test_scores_follow_the_method() -> None:
    base = Traits("DUPONT", None, "LUCIENNE", date(1950, 3, 7), "female", "RENNES", None)
    assert compare(base, base).outcome == "match"
    swapped = Traits("DUPOND", None, "LUCIENNE", date(1950, 7, 3), "female", "RENNES", None)
    assert MATCH <= compare(base, swapped).score < 1
    other_sex = Traits("DUPONT", None, "LUCIENNE", date(1950, 3, 7), "male", "RENNES", None)
    assert compare(base, other_sex).outcome == "possible"
    stranger = Traits("DURAND", None, "PAUL", date(1950, 3, 7), "female", "RENNES", None)
    assert compare(base, stranger).score < POSSIBLE and compare(base, stranger).outcome == "distinct"


def test_a_vault_written_before_is_migrated_and_stays_readable(tmp_path: Path, guard: WarehouseGuard) -> None:
    """A vault of before (one identity row per pseudonym, overwritten by each feed) opens, keeps its rows, feeds."""
    old_ddl = IDENTITY_DDL.split(", used_family")[0].replace("VARCHAR NOT NULL", "VARCHAR PRIMARY KEY", 1) + ")"
    with Warehouse.open(tmp_path / "warehouse", guard.identity.keyring, guard=guard) as wh:
        feed(wh, tmp_path, "dpi-a", patient("a", "LEROY", "Dominique", "1960-01-02", "male", place="Metz"))
        with wh.vault_connection() as con:
            con.execute("CREATE TABLE vault.before AS SELECT * EXCLUDE (used_family, kind, source_hash) "
                        "FROM vault.identity")  # fmt: skip
            con.execute("DROP TABLE vault.identity")
            con.execute(old_ddl.replace("EXISTS identity", "EXISTS vault.identity"))
            con.execute("INSERT INTO vault.identity SELECT * FROM vault.before")
            con.execute("DROP TABLE vault.before")
            con.execute("INSERT INTO vault.identity (pseudonym, family, given) VALUES ('p1', 'ANCIEN', 'Jean')")
    with Warehouse.open(tmp_path / "warehouse", guard.identity.keyring, create=False, guard=guard) as wh:
        with wh.vault_connection() as con:
            rows = con.execute("SELECT family, kind FROM vault.identity ORDER BY family").fetchall()
        assert rows == [("ANCIEN", "legacy"), ("LEROY", "fhir:Patient")]
        before = persons(wh)
        feed(wh, tmp_path, "dpi-a", patient("a", "LEROY", "Dominique", "1960-01-02", "male", place="Metz"))
        assert persons(wh) == before
        with wh.vault_connection() as con:
            assert con.execute("SELECT count(*) FROM vault.identity").fetchone() == (2,)


def test_an_objection_by_name_shared_by_homonyms_is_refused_until_the_ins_or_birthplace_says_which(
    wh: Warehouse, tmp_path: Path
) -> None:
    """Issue 15: ``oppose`` by name found only the first homonym; now it refuses, then takes the INS or birthplace."""
    feed(wh, tmp_path, "dpi-a",
         patient("a", "BERNARD", "Camille", "1980-03-07", "male", ins=LYON_1980, place="Lyon"),
         patient("b", "BERNARD", "Camille", "1980-03-07", "female", ins=NANTES_1980, place="Nantes"))  # fmt: skip
    who = persons(wh)
    camille = {"family": "Bernard", "given": "Camille", "birthdate": "1980-03-07"}
    with pytest.raises(WarehouseError, match=r"2 personnes.*--ins.*--birthplace"):
        wh.oppose(camille, by=STEWARD)
    assert set(persons(wh).values()) == {who["a"], who["b"]}  # nothing deleted
    with pytest.raises(WarehouseError, match="Aucune personne"):
        wh.person_of(camille, birth_place="Brest")
    with pytest.raises(WarehouseError, match="pas valide"):
        wh.person_of(camille, ins=LYON_1980[:-2] + "00")
    assert person_id_of(wh.person_of(camille, ins=NANTES_1980)) == who["b"]
    assert wh.oppose({**camille, "birth_place": "lyon"}, by=STEWARD) > 0
    assert set(persons(wh).values()) == {who["b"]}
    # a person never fed is found by the identity alone (an objection before the first feed)
    stranger = {"family": "Inconnu", "given": "Jean", "birthdate": "1990-01-01"}
    assert wh.person_of(stranger) == wh.pseudonym_of(stranger)


def test_matching_holds_duckdb_under_its_memory_limit_and_spills_into_the_warehouse(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's temporary tables (the records with their hashes, the blocking index) grow with the records: while
    matching, the connection's memory is limited (the warehouse's limit restored after, even on failure) and what
    exceeds it spills, encrypted, into the warehouse's own directory, not the working directory."""
    def setting(name: str) -> str:
        return str((wh.omop.execute(f"SELECT current_setting('{name}')").fetchone() or ("",))[0])

    assert Path(setting("temp_directory")) == wh.directory / ".spill"
    assert setting("temp_file_encryption").lower() == "true"
    before = setting("memory_limit")
    seen: list[str] = []
    index = matching._index

    def observed(*args: Any) -> None:
        seen.append(setting("memory_limit"))
        index(*args)

    monkeypatch.setattr(matching, "_index", observed)
    with wh.vault_connection():
        _assign(wh, _generated(40, 5), memory_limit="64MiB")
        assert seen == ["64.0 MiB"] and setting("memory_limit") == before

        def broken(*args: Any) -> None:
            raise RuntimeError("killed while matching")

        monkeypatch.setattr(matching, "_index", broken)
        with pytest.raises(RuntimeError):
            assign(wh, "fhir:Patient", "src", memory_limit="64MiB")
        assert setting("memory_limit") == before

