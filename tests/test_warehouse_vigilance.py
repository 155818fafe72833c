"""Identity vigilance (issue 15): the review queue is read, a link moves the OMOP rows and the vault's, undo restores.

Fictitious identities in hand-built FHIR bundles (the matching tests' helpers); the reviewer is the feeding profile,
the one that writes the correspondence tables for the warehouse's constitution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from santegarde.warehouse import Warehouse
from santegarde.warehouse.access import WarehouseAccessRefused, WarehouseGuard
from santegarde.warehouse.omop import PERSON_TABLES, person_column
from santegarde.warehouse.pseudonym import person_id_of
from santegarde.warehouse.vigilance import IdentityVigilance, reviewer_profiles
from test_warehouse_core import FEEDER, STEWARD
from test_warehouse_matching import feed, guard, patient, persons, wh

__all__ = ["guard", "wh"]


def snapshot(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every OMOP table holding persons, sorted."""
    return {t: sorted(wh.omop.execute(f"SELECT * FROM omop.{t}").fetchall(), key=repr) for t in PERSON_TABLES}


def events(guard: WarehouseGuard, prefix: str) -> list[tuple[str, str]]:
    with guard.trail.engine.connect() as conn:
        return [
            (str(e.content["operation"]), str(e.content["outcome"]))
            for e in guard.trail.entries(conn)
            if str(e.content["operation"]).startswith(prefix)
        ]


@pytest.fixture
def queued(wh: Warehouse, tmp_path: Path) -> IdentityVigilance:
    """One possible match in the queue: same identity, the sex differs (a data-entry error, say)."""
    feed(wh, tmp_path, "dpi-a", patient("a", "LEROY", "Dominique", "1960-01-02", "male", place="Metz",
                                        city="Metz"))  # fmt: skip
    wh.omop.execute("INSERT INTO omop.death (person_id, death_date) SELECT person_id, DATE '2024-06-01' "
                    "FROM omop.person")  # fmt: skip
    feed(wh, tmp_path, "dpi-b", patient("b", "LEROY", "Dominique", "1960-01-02", "female", place="Metz"))
    return IdentityVigilance(wh)


def test_the_review_lists_the_pair_by_trait_without_identities(wh: Warehouse, queued: IdentityVigilance) -> None:
    who = persons(wh)
    [item] = queued.review(FEEDER)
    assert (item.person_id, item.candidate_id, item.status, item.reason) == (who["b"], who["a"], "open", "sex")
    assert item.traits == {"nom": "identique", "prénom": "identique", "naissance": "identique", "sexe": "différent",
                           "lieu de naissance": "identique", "INS": "inconnu"}  # fmt: skip
    assert item.identities is None
    assert "LEROY" not in repr(item) and "1960" not in repr(item)
    shown = queued.review(FEEDER, identities=True)[0].identities
    assert shown is not None and {shown[0]["sex"], shown[1]["sex"]} == {"male", "female"}
    assert reviewer_profiles(queued.guard.referential) == ("feeding",)


def test_a_link_moves_every_row_in_one_step_and_an_undo_restores_them(
    wh: Warehouse, tmp_path: Path, queued: IdentityVigilance
) -> None:
    who = persons(wh)
    before = snapshot(wh)
    [item] = queued.review(FEEDER)
    moved = queued.link(item.review_id, FEEDER)
    assert moved >= 2  # at least the two conditions
    assert set(persons(wh).values()) == {who["a"]}
    for table in PERSON_TABLES:
        ids = {r[0] for r in wh.omop.execute(f"SELECT DISTINCT {person_column(table)} FROM omop.{table}").fetchall()}
        assert ids <= {who["a"]}, table
    assert wh.omop.execute("SELECT count(*) FROM omop.person").fetchone() == (1,)
    assert queued.review(FEEDER) == [] and queued.review(FEEDER, status="linked")[0].review_id == item.review_id
    with wh.vault_connection() as con:
        assert con.execute("SELECT count(DISTINCT pseudonym) FROM vault.identity").fetchone() == (1,)
    # undone: the rows, the person and the vault are as before; the pair is open again
    assert queued.undo(item.review_id, FEEDER) == moved
    assert snapshot(wh) == before
    assert persons(wh) == who
    with wh.vault_connection() as con:
        assert con.execute("SELECT count(DISTINCT pseudonym) FROM vault.identity").fetchone() == (2,)
    assert [i.status for i in queued.review(FEEDER)] == ["open"]
    # linked again, a later feed of the linked record comes to the linked person
    queued.link(item.review_id, FEEDER)
    feed(wh, tmp_path, "dpi-b", patient("b", "LEROY", "Dominique", "1960-01-02", "female", place="Metz"))
    assert set(persons(wh).values()) == {who["a"]}
    assert events(queued.guard, "warehouse.identity.link") == [
        ("warehouse.identity.link.genetic", "success"), ("warehouse.identity.link", "success")
    ] * 2  # the genetic/location key mobilised for the link, traced (EDS-SEC-LOG-6)
    assert events(queued.guard, "warehouse.identity.undo") == [
        ("warehouse.identity.undo.genetic", "success"), ("warehouse.identity.undo", "success")
    ]


def test_separate_confirms_two_persons_and_decisions_are_refused_with_a_sentence(
    wh: Warehouse, queued: IdentityVigilance
) -> None:
    who = persons(wh)
    [item] = queued.review(FEEDER)
    with pytest.raises(WarehouseAccessRefused, match="feeding"):
        queued.link(item.review_id, STEWARD)  # the rights desk does not decide identities
    with pytest.raises(WarehouseAccessRefused, match="rien à annuler"):
        queued.undo(item.review_id, FEEDER)
    queued.separate(item.review_id, FEEDER)
    assert persons(wh) == who and queued.review(FEEDER) == []
    with pytest.raises(WarehouseAccessRefused, match=r"déjà été décidée.*identity undo"):
        queued.link(item.review_id, FEEDER)
    with pytest.raises(WarehouseAccessRefused, match="Aucune paire n°999"):
        queued.separate(999, FEEDER)
    assert queued.undo(item.review_id, FEEDER) == 0
    assert [i.status for i in queued.review(FEEDER)] == ["open"]
    outcomes = {outcome for _, outcome in events(queued.guard, "warehouse.identity")}
    assert outcomes == {"success", "denied"}


def test_an_objection_after_a_link_leaves_nothing_to_restore(
    wh: Warehouse, queued: IdentityVigilance
) -> None:
    [item] = queued.review(FEEDER)
    queued.link(item.review_id, FEEDER)
    with wh.vault_connection() as con:
        [(pseudonym,)] = con.execute("SELECT DISTINCT pseudonym FROM vault.identity").fetchall()
    wh.oppose_pseudonym(str(pseudonym), by=STEWARD)
    for table in ("person", "identity_link", "linked_person", "linked_death"):
        assert wh.omop.execute(f"SELECT count(*) FROM omop.{table}").fetchone() == (0,), table
    assert person_id_of(str(pseudonym)) not in persons(wh).values()


def genetic(wh: Warehouse) -> list[tuple[int, int]]:
    """(genetic_result_id, person_id) of every genetic result, read through the feeding profile's key."""
    with wh.location_connection(FEEDER) as con:
        return sorted(con.execute("SELECT genetic_result_id, person_id FROM geo.genetic_result").fetchall())


def test_a_link_moves_the_genetic_results_too_and_an_undo_brings_them_back(
    wh: Warehouse, queued: IdentityVigilance
) -> None:
    who = persons(wh)
    with wh.location_connection(FEEDER) as con:
        con.execute(
            "INSERT INTO geo.genetic_result (genetic_result_id, person_id, gene, variant) VALUES "
            "(1, $b, 'BRCA1', 'c.68_69del'), (2, $b, 'CFTR', 'p.Phe508del'), (3, $a, 'HFE', 'p.Cys282Tyr')",
            {"a": who["a"], "b": who["b"]},
        )
    before = genetic(wh)
    [item] = queued.review(FEEDER)
    moved = queued.link(item.review_id, FEEDER)
    assert genetic(wh) == [(1, who["a"]), (2, who["a"]), (3, who["a"])]
    assert queued.undo(item.review_id, FEEDER) == moved
    assert genetic(wh) == before
    # linked again then objected to: the genetic results and what the link noted of them are gone for good
    queued.link(item.review_id, FEEDER)
    with wh.vault_connection() as con:
        [(pseudonym,)] = con.execute("SELECT DISTINCT pseudonym FROM vault.identity").fetchall()
    wh.oppose_pseudonym(str(pseudonym), by=STEWARD)
    assert genetic(wh) == []
    with wh.location_connection(FEEDER) as con:
        assert con.execute("SELECT count(*) FROM geo.genetic_link").fetchone() == (0,)


def test_a_link_failing_in_the_vault_leaves_the_genetic_results_where_they_were(
    wh: Warehouse, queued: IdentityVigilance, monkeypatch: pytest.MonkeyPatch
) -> None:
    import santegarde.warehouse.vigilance as vigilance

    who = persons(wh)
    with wh.location_connection(FEEDER) as con:
        con.execute("INSERT INTO geo.genetic_result (genetic_result_id, person_id) VALUES (7, $b)", {"b": who["b"]})
    before, rows = genetic(wh), snapshot(wh)

    def broken(*_: object) -> None:
        raise RuntimeError("vault unavailable")

    monkeypatch.setattr(vigilance, "_relabel", broken)
    [item] = queued.review(FEEDER)
    with pytest.raises(RuntimeError, match="vault unavailable"):
        queued.link(item.review_id, FEEDER)
    assert genetic(wh) == before and snapshot(wh) == rows
    with wh.location_connection(FEEDER) as con:
        assert con.execute("SELECT count(*) FROM geo.genetic_link").fetchone() == (0,)


def test_pairs_get_short_numbers_once_each_and_older_long_ids_are_renumbered(
    wh: Warehouse, tmp_path: Path, queued: IdentityVigilance
) -> None:
    [first] = queued.review(FEEDER)
    assert first.review_id == 1
    # fed again, the same pair is not queued twice; another possible match takes the next number
    feed(wh, tmp_path, "dpi-b", patient("b", "LEROY", "Dominique", "1960-01-02", "female", place="Metz"))
    feed(wh, tmp_path, "dpi-c", patient("c", "LEROY", "Dominique", "1960-01-02", "female", place="Nancy"))
    assert [i.review_id for i in queued.review(FEEDER, status="all")] == [1, 2]
    # a vault of before: its 19-digit ids, and the link bookkeeping that names them, become 3 and 4 on opening
    queued.link(2, FEEDER)
    with wh.vault_connection() as con:
        for old, new in ((2, 4_611_686_018_427_387_904), (1, 1_152_921_504_606_846_976)):
            con.execute("UPDATE vault.identity_review SET review_id = $n WHERE review_id = $o", {"o": old, "n": new})
            con.execute("UPDATE vault.identity_link SET review_id = $n WHERE review_id = $o", {"o": old, "n": new})
            wh.omop.execute("UPDATE omop.identity_link SET review_id = $n WHERE review_id = $o", {"o": old, "n": new})
            wh.omop.execute("UPDATE omop.linked_person SET review_id = $n WHERE review_id = $o", {"o": old, "n": new})
    directory, guard = wh.directory, queued.guard
    wh.close()
    reopened = Warehouse.open(directory, guard.identity.keyring, guard=guard)
    try:
        again = IdentityVigilance(reopened)
        assert [(i.review_id, i.status) for i in again.review(FEEDER, status="all")] == [(1, "open"), (2, "linked")]
        assert reopened.omop.execute("SELECT DISTINCT review_id FROM omop.identity_link").fetchall() == [(2,)]
        assert again.undo(2, FEEDER) > 0  # the renumbered link is still undone row by row
        assert len(set(persons(reopened).values())) == 3
    finally:
        reopened.close()


def test_a_link_moves_the_person_facts_of_fact_relationship_and_an_undo_brings_them_back(
    wh: Warehouse, queued: IdentityVigilance
) -> None:
    """``fact_relationship`` rows of the Person domain (concept 56) name persons by their person_id: a link moves
    them with the rest, whichever side names the merged person, and an undo puts them back."""
    who = persons(wh)
    kept, merged = who["a"], who["b"]
    rows = [(56, merged, 56, kept, 4001), (56, merged, 19, 12345, 4002), (19, 12345, 56, merged, 4003),
            (56, merged, 56, merged, 4004), (19, merged, 19, 777, 4005), (56, 999, 56, 998, 4006)]  # fmt: skip
    wh.omop.executemany("INSERT INTO omop.fact_relationship VALUES (?, ?, ?, ?, ?)", rows)

    def facts() -> list[tuple[int, ...]]:
        return sorted(wh.omop.execute("SELECT * FROM omop.fact_relationship").fetchall())

    before = facts()
    [item] = queued.review(FEEDER)
    moved = queued.link(item.review_id, FEEDER)
    assert facts() == sorted([(56, kept, 56, kept, 4001), (56, kept, 19, 12345, 4002), (19, 12345, 56, kept, 4003),
                              (56, kept, 56, kept, 4004), (19, merged, 19, 777, 4005),  # not a person: untouched
                              (56, 999, 56, 998, 4006)])  # fmt: skip
    assert queued.undo(item.review_id, FEEDER) == moved
    assert facts() == before


def test_identical_cohort_rows_come_back_as_many_as_were_moved_and_the_kept_persons_own_stays(
    wh: Warehouse, queued: IdentityVigilance
) -> None:
    """``cohort`` rows have no key of their own: the merged person's two identical rows both come back on undo, and
    the kept person's own identical row stays with it (a row is named by its columns but the person's)."""
    who = persons(wh)
    kept, merged = who["a"], who["b"]
    row = "(7, ?, DATE '2024-01-01', DATE '2024-02-01')"
    wh.omop.execute(f"INSERT INTO omop.cohort VALUES {row}, {row}, {row}", [merged, merged, kept])

    def cohort() -> list[tuple[int, int]]:
        return sorted(wh.omop.execute("SELECT subject_id, count(*) FROM omop.cohort GROUP BY ALL").fetchall())

    before = cohort()
    [item] = queued.review(FEEDER)
    queued.link(item.review_id, FEEDER)
    assert cohort() == [(kept, 3)]
    queued.undo(item.review_id, FEEDER)
    assert cohort() == before == sorted([(kept, 1), (merged, 2)])
