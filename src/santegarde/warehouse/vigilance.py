"""Identity vigilance (issue 15): the review queue of possible matches, read and decided, every decision undoable.

Identity matching (:mod:`santegarde.warehouse.matching`) never merges a *possible* match: the record becomes a
person of its own and the pair goes to ``vault.identity_review``. Here the identity-vigilance reviewer — a profile
that writes the correspondence tables for the warehouse's constitution (the feeding profile of the text) — lists
the open pairs, then:

- **links** them: the record's person (``pseudonym``) becomes the candidate's person. Every OMOP row of the
  record's person gets the candidate's ``person_id``, in one transaction of the health store; the record's
  ``person`` and ``death`` rows are kept aside (``omop.linked_person``/``omop.linked_death``) and every moved row is
  noted in ``omop.identity_link``; the record's genetic results follow, in the genetic/location store (noted in
  ``geo.genetic_link``; the reviewer's profile holds that store's key); then, in one transaction of the vault, its
  identity and mapping rows take the candidate's pseudonym (noted in ``vault.identity_link``), so later feeds of
  that record come to the linked person. DuckDB writes one attached database per transaction: if a later step
  fails, the earlier ones are reversed.
- **separates** them: the pair is confirmed as two persons; nothing moves.
- **undoes** a decision: a link is reversed row by row (the rows noted go back, the kept rows return), a
  separation is reopened; the pair is open again.

The listing shows, per pair, how each identity trait compares (same, close, swapped, different, unknown) and the
score; the identities themselves only with ``identities=True`` and only for a profile the référentiel allows to
read the directly identifying data. Every listing, decision and refusal is traced (the traits never are).
"""

# ruff: noqa: S608 - SQL is assembled from the OMOP spec constants of omop.py; values go as $parameters

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb

from santegarde.referentials.model import Granularity, Operation, Referential
from santegarde.warehouse import omop
from santegarde.warehouse.access import FEED_PURPOSE, Operator, WarehouseGuard
from santegarde.warehouse.core import Warehouse
from santegarde.warehouse.matching import STRING_AGREEMENT, Traits, checked_ins, compare, jaro_winkler
from santegarde.warehouse.pseudonym import normalise, person_id_of

RULE = "EDS-SEC-ALI-1"
OPERATION = "warehouse.identity"
TRAIT_COLUMNS = ("family", "used_family", "given", "birth_date", "sex", "birth_place", "ins")
MOVED_TABLES = tuple(t for t in omop.PERSON_TABLES if t not in ("person", "death"))
OMOP_LINK_DDL = (
    """CREATE TABLE IF NOT EXISTS omop.identity_link (
        review_id BIGINT NOT NULL, kept BIGINT NOT NULL, merged BIGINT NOT NULL, tbl VARCHAR NOT NULL,
        row_key BIGINT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS omop.linked_person AS SELECT 0::BIGINT AS review_id, * FROM omop.person LIMIT 0",
    "CREATE TABLE IF NOT EXISTS omop.linked_death AS SELECT 0::BIGINT AS review_id, * FROM omop.death LIMIT 0",
)
VAULT_LINK_DDL = """CREATE TABLE IF NOT EXISTS vault.identity_link (
        review_id BIGINT NOT NULL, tbl VARCHAR NOT NULL, kind VARCHAR NOT NULL, source_hash VARCHAR NOT NULL)"""


@dataclass(frozen=True)
class ReviewItem:
    """One pair of the queue: how the traits compare, and the identities only when the profile may read them."""

    review_id: int
    status: str
    score: float
    reason: str
    recorded_at: datetime
    person_id: int
    candidate_id: int
    traits: dict[str, str]
    identities: tuple[dict[str, Any], dict[str, Any]] | None = None


def reviewer_profiles(ref: Referential) -> tuple[str, ...]:
    """The profiles that write the correspondence tables for the warehouse's constitution: they decide links."""
    return tuple(
        a.id
        for a in ref.accessors
        if any(
            Operation.WRITE in acc.operations
            and "correspondence_tables" in acc.categories
            and FEED_PURPOSE in acc.purposes
            for acc in a.access
        )
    )


def may_read_identities(ref: Referential, profile: str | None) -> bool:
    """Whether the profile may read the directly identifying data, at the identifying granularity."""
    return any(
        a.id == profile
        and any(
            Operation.READ in acc.operations
            and "direct_identity" in acc.categories
            and acc.granularity == Granularity.IDENTIFYING
            for acc in a.access
        )
        for a in ref.accessors
    )


class IdentityVigilance:
    """The review queue of a warehouse, through its guard."""

    def __init__(self, warehouse: Warehouse, guard: WarehouseGuard | None = None) -> None:
        self.warehouse = warehouse
        self.guard = warehouse.guard_for(Operator("?", None), OPERATION, guard)

    def _require(self, operator: Operator, operation: str, what: str) -> None:
        self.guard.require(
            operator, reviewer_profiles(self.guard.referential), operation=operation, resource="identity_review",
            rule=RULE, what=what,
        )  # fmt: skip

    # -- reading -----------------------------------------------------------------------------------------------
    def review(self, operator: Operator, *, status: str = "open", identities: bool = False) -> list[ReviewItem]:
        """The pairs of the queue with this status (``open``, ``linked``, ``separate`` or ``all``)."""
        operation = f"{OPERATION}.review"
        self._require(operator, operation, "read the identity-vigilance review queue")
        if identities and not may_read_identities(self.guard.referential, operator.profile):
            self.guard.refuse(
                operator, operation, "identity_review", RULE,
                f"Le profil '{operator.profile}' ne peut pas lire les données directement identifiantes : relancez "
                "sans --identites, la comparaison des traits suffit à décider.",
            )  # fmt: skip
        columns = ", ".join(TRAIT_COLUMNS)
        with self.warehouse.vault_connection() as con:
            rows = con.execute(
                "SELECT review_id, status, score, reason, recorded_at, kind, source_hash, pseudonym, candidate "
                "FROM vault.identity_review WHERE $s = 'all' OR status = $s ORDER BY review_id",
                {"s": status},
            ).fetchall()
            items = []
            for review_id, state, score, reason, at, kind, source_hash, pseudonym, candidate in rows:
                record = con.execute(
                    f"SELECT {columns} FROM vault.identity WHERE kind = $k AND source_hash = $h", {"k": kind,
                    "h": source_hash},
                ).fetchone()  # fmt: skip
                others = con.execute(
                    f"SELECT {columns} FROM vault.identity WHERE pseudonym = $p AND NOT (kind = $k AND "
                    "source_hash = $h)",
                    {"p": candidate, "k": kind, "h": source_hash},
                ).fetchall()
                if record is None or not others:
                    continue  # a person of the pair was objected to or erased since
                mine = _traits(record)
                best = max(others, key=lambda o: compare(mine, _traits(o)).score)
                shown = (_identity(record), _identity(best)) if identities else None
                items.append(ReviewItem(
                    int(review_id), str(state), float(score), str(reason), at, person_id_of(str(pseudonym)),
                    person_id_of(str(candidate)), _comparison(mine, _traits(best)), shown,
                ))  # fmt: skip
        self.guard.trace(operator, operation, "identity_review", "success", RULE)
        return items

    # -- deciding ----------------------------------------------------------------------------------------------
    def link(self, review_id: int, operator: Operator) -> int:
        """Link the pair: the record's person becomes the candidate's; returns the number of OMOP rows moved."""
        operation = f"{OPERATION}.link"
        self._require(operator, operation, "link two identities")
        pseudonym, candidate = self._pair(review_id, operator, operation, expected="open")
        merged, kept = person_id_of(pseudonym), person_id_of(candidate)
        con = self.warehouse.omop
        moved = int(_in_transaction(con, lambda: _move(con, review_id, kept, merged)))
        done = ["omop"]
        try:
            with self._genetic(operator, operation) as geo:
                moved += int(_in_transaction(geo, lambda: _move_genetic(geo, review_id, kept, merged)))
            done.append("geo")
            with self.warehouse.vault_connection() as vault:
                _in_transaction(vault, lambda: _relabel(vault, review_id, pseudonym, candidate, operator.login))
        except BaseException:
            if "geo" in done:
                with self._genetic(operator, operation) as geo:
                    _in_transaction(geo, lambda: _restore_genetic(geo, review_id))
            _in_transaction(con, lambda: _restore(con, review_id))
            self.guard.trace(operator, operation, "identity_review", "error", RULE)
            raise
        self.guard.trace(operator, operation, "identity_review", "success", RULE)
        return moved

    def separate(self, review_id: int, operator: Operator) -> None:
        """Confirm the pair as two persons: nothing moves, the pair leaves the open queue."""
        operation = f"{OPERATION}.separate"
        self._require(operator, operation, "confirm two identities as distinct")
        self._pair(review_id, operator, operation, expected="open")
        with self.warehouse.vault_connection() as vault:
            vault.execute(
                "UPDATE vault.identity_review SET status = 'separate', decided_by = $by, decided_at = now() "
                "WHERE review_id = $r",
                {"by": operator.login, "r": review_id},
            )
        self.guard.trace(operator, operation, "identity_review", "success", RULE)

    def undo(self, review_id: int, operator: Operator) -> int:
        """Reverse the decision on the pair (a link row by row); the pair is open again. Returns the rows moved back."""
        operation = f"{OPERATION}.undo"
        self._require(operator, operation, "undo an identity-vigilance decision")
        pseudonym, candidate = self._pair(review_id, operator, operation, expected="decided")
        con = self.warehouse.omop
        with self.warehouse.vault_connection() as vault:
            status = vault.execute(
                "SELECT status FROM vault.identity_review WHERE review_id = $r", {"r": review_id}
            ).fetchone()
        if status is None or status[0] != "linked":
            with self.warehouse.vault_connection() as vault:
                _reopen(vault, review_id)
            self.guard.trace(operator, operation, "identity_review", "success", RULE)
            return 0
        kept, merged = person_id_of(candidate), person_id_of(pseudonym)
        restored = int(_in_transaction(con, lambda: _restore(con, review_id)))
        done = ["omop"]
        try:
            with self._genetic(operator, operation) as geo:
                restored += int(_in_transaction(geo, lambda: _restore_genetic(geo, review_id)))
            done.append("geo")
            with self.warehouse.vault_connection() as vault:
                _in_transaction(vault, lambda: _unlabel(vault, review_id, pseudonym))
        except BaseException:
            if "geo" in done:
                with self._genetic(operator, operation) as geo:
                    _in_transaction(geo, lambda: _move_genetic(geo, review_id, kept, merged))
            _in_transaction(con, lambda: _move(con, review_id, kept, merged))
            self.guard.trace(operator, operation, "identity_review", "error", RULE)
            raise
        self.guard.trace(operator, operation, "identity_review", "success", RULE)
        return restored

    def _genetic(self, operator: Operator, operation: str) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """The genetic/location store, attached for a link or an undo: the reviewer's profile holds its key
        (EDS-SEC-LOG-6, checked and traced); a person's genetic results follow the person like every other row."""
        return self.warehouse.location_connection(operator, f"{operation}.genetic", guard=self.guard)

    def _pair(self, review_id: int, operator: Operator, operation: str, *, expected: str) -> tuple[str, str]:
        with self.warehouse.vault_connection() as vault:
            row = vault.execute(
                "SELECT pseudonym, candidate, status FROM vault.identity_review WHERE review_id = $r",
                {"r": review_id},
            ).fetchone()
            persons = {
                str(p) for (p,) in vault.execute(
                    "SELECT DISTINCT pseudonym FROM vault.identity WHERE pseudonym IN ($a, $b)",
                    {"a": row[0] if row else "", "b": row[1] if row else ""},
                ).fetchall()
            }  # fmt: skip
        if row is None:
            self.guard.refuse(
                operator, operation, "identity_review", RULE,
                f"Aucune paire n°{review_id} dans la file de vigilance : consultez la liste avec "
                "'santegarde warehouse identity review --status all'.",
            )  # fmt: skip
        pseudonym, candidate, status = str(row[0]), str(row[1]), str(row[2])
        if expected == "open" and status != "open":
            self.guard.refuse(
                operator, operation, "identity_review", RULE,
                f"La paire n°{review_id} a déjà été décidée ({_STATUS.get(status, status)}) : annulez d'abord cette "
                f"décision ('santegarde warehouse identity undo {review_id}').",
            )  # fmt: skip
        if expected == "decided" and status == "open":
            self.guard.refuse(
                operator, operation, "identity_review", RULE,
                f"La paire n°{review_id} n'a pas encore été décidée : il n'y a rien à annuler.",
            )  # fmt: skip
        if status != "linked" and persons != {pseudonym, candidate}:
            self.guard.refuse(
                operator, operation, "identity_review", RULE,
                f"Une personne de la paire n°{review_id} n'est plus dans l'entrepôt (opposition ou effacement) : "
                "il n'y a plus rien à rapprocher.",
            )  # fmt: skip
        return pseudonym, candidate


_STATUS = {"linked": "rapprochées", "separate": "distinctes"}


def forget(con: duckdb.DuckDBPyConnection, person_id: int) -> int:
    """Delete the link bookkeeping of a person (an objection or an erasure): nothing of it may be restored."""
    deleted = 0
    for statement in OMOP_LINK_DDL:
        con.execute(statement)
    for table in ("linked_person", "linked_death"):
        row = con.execute(
            f"""DELETE FROM omop.{table} WHERE person_id = $i OR review_id IN (
                    SELECT review_id FROM omop.identity_link WHERE kept = $i OR merged = $i)""",
            {"i": person_id},
        ).fetchone()
        deleted += int(row[0]) if row else 0
    con.execute("DELETE FROM omop.identity_link WHERE kept = $i OR merged = $i", {"i": person_id})
    return deleted


def _x(con: duckdb.DuckDBPyConnection, statement: str, params: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """Run ``statement`` with the parameters it names (DuckDB refuses unused ones)."""
    used = set(re.findall(r"\$([a-z]+)", statement))
    return con.execute(statement, {k: v for k, v in params.items() if k in used})


def _in_transaction(con: duckdb.DuckDBPyConnection, work: Any) -> Any:
    con.execute("BEGIN TRANSACTION")
    try:
        result = work()
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return result


def _move(con: duckdb.DuckDBPyConnection, review_id: int, kept: int, merged: int) -> int:
    """Every OMOP row of ``merged`` to ``kept``, noted; its person and death rows kept aside (one transaction)."""
    for statement in OMOP_LINK_DDL:
        con.execute(statement)
    ids = {"r": review_id, "k": kept, "m": merged}
    moved = 0
    for table in MOVED_TABLES:
        key, person = omop.row_key_sql(table), omop.person_column(table)
        _x(
            con,
            f"INSERT INTO omop.identity_link SELECT $r, $k, $m, '{table}', {key} FROM omop.{table} "
            f"WHERE {person} = $m",
            ids,
        )
        row = _x(con, f"UPDATE omop.{table} SET {person} = $k WHERE {person} = $m", ids).fetchone()
        moved += int(row[0]) if row else 0
    moved += _move_person_facts(con, ids)
    _x(con, "INSERT INTO omop.identity_link VALUES ($r, $k, $m, 'person', $m)", ids)  # the link, even with no row
    for table in ("person", "death"):
        _x(con, f"INSERT INTO omop.linked_{table} SELECT $r, * FROM omop.{table} WHERE person_id = $m", ids)
        _x(con, f"DELETE FROM omop.{table} WHERE person_id = $m", ids)
    # the kept person inherits the death of the merged one if it had none (noted, removed on undo)
    _x(
        con,
        """INSERT INTO omop.identity_link SELECT $r, $k, $m, 'death', $k
           WHERE NOT EXISTS (SELECT 1 FROM omop.death WHERE person_id = $k)
             AND EXISTS (SELECT 1 FROM omop.linked_death WHERE review_id = $r)""",
        ids,
    )
    _x(
        con,
        """INSERT INTO omop.death SELECT * EXCLUDE (review_id) REPLACE ($k AS person_id) FROM omop.linked_death
           WHERE review_id = $r AND EXISTS (SELECT 1 FROM omop.identity_link WHERE review_id = $r AND tbl = 'death')""",
        ids,
    )
    return moved


PERSON_DOMAIN = next(concept for concept, domain in omop.DOMAIN_CONCEPTS.items() if domain == "Person")
FACT_SIDES = ((1, "fact_relationship:1"), (2, "fact_relationship:2"))


def _fact_key(fact_1: str, fact_2: str, alias: str = "") -> str:
    """The name of a ``fact_relationship`` row (a hash of its columns) once its facts are ``fact_1`` and ``fact_2``."""
    return (f"(hash({alias}domain_concept_id_1, {fact_1}, {alias}domain_concept_id_2, {fact_2}, "
            f"{alias}relationship_concept_id) >> 1)::BIGINT")  # fmt: skip


def _person_fact(side: int, person: str) -> str:
    return f"(domain_concept_id_{side} = {PERSON_DOMAIN} AND fact_id_{side} = {person})"


def _move_person_facts(con: duckdb.DuckDBPyConnection, ids: dict[str, int]) -> int:
    """``fact_relationship`` rows whose fact of the Person domain is the merged person now name the kept one; each
    moved side noted under the row's name after the move, so that an undo finds it."""
    moved_1 = f"CASE WHEN {_person_fact(1, '$m')} THEN $k ELSE fact_id_1 END"
    moved_2 = f"CASE WHEN {_person_fact(2, '$m')} THEN $k ELSE fact_id_2 END"
    either = f"({_person_fact(1, '$m')} OR {_person_fact(2, '$m')})"
    for side, tbl in FACT_SIDES:
        _x(
            con,
            f"INSERT INTO omop.identity_link SELECT $r, $k, $m, '{tbl}', {_fact_key(moved_1, moved_2)} "
            f"FROM omop.fact_relationship WHERE {_person_fact(side, '$m')}",
            ids,
        )
    row = _x(
        con, f"UPDATE omop.fact_relationship SET fact_id_1 = {moved_1}, fact_id_2 = {moved_2} WHERE {either}", ids
    ).fetchone()
    return int(row[0]) if row else 0


def _restore_person_facts(con: duckdb.DuckDBPyConnection, review_id: int) -> int:
    """Reverse :func:`_move_person_facts` for this review."""
    back = {side: f"CASE WHEN l.side_{side} AND t.domain_concept_id_{side} = {PERSON_DOMAIN} "
                  f"AND t.fact_id_{side} = l.kept THEN l.merged ELSE t.fact_id_{side} END" for side, _ in FACT_SIDES}
    row = _x(
        con,
        f"""UPDATE omop.fact_relationship t SET fact_id_1 = {back[1]}, fact_id_2 = {back[2]}
            FROM (SELECT row_key, any_value(kept) AS kept, any_value(merged) AS merged,
                         bool_or(tbl = '{FACT_SIDES[0][1]}') AS side_1, bool_or(tbl = '{FACT_SIDES[1][1]}') AS side_2
                  FROM omop.identity_link WHERE review_id = $r AND tbl LIKE 'fact_relationship:%' GROUP BY row_key) l
            WHERE {_fact_key("t.fact_id_1", "t.fact_id_2", "t.")} = l.row_key""",
        {"r": review_id},
    ).fetchone()
    return int(row[0]) if row else 0


def _restore(con: duckdb.DuckDBPyConnection, review_id: int) -> int:
    """Reverse :func:`_move` for this review (one transaction)."""
    for statement in OMOP_LINK_DDL:
        con.execute(statement)
    restored = 0
    for table in MOVED_TABLES:
        person = omop.person_column(table)
        key = omop.row_key_sql(table, "t.")
        # as many rows of each name as were moved, no more: a row without a key of its own (``cohort``) is named by
        # its columns, and the kept person may hold an identical row of its own, which stays
        row = _x(
            con,
            f"""UPDATE omop.{table} SET {person} = l.merged
                FROM (SELECT x.rid, c.merged FROM (
                          SELECT t.rowid AS rid, {key} AS row_key, t.{person} AS holder,
                                 row_number() OVER (PARTITION BY {key}, t.{person} ORDER BY t.rowid) AS nth
                          FROM omop.{table} t
                          WHERE t.{person} IN (SELECT kept FROM omop.identity_link WHERE review_id = $r)) x
                      JOIN (SELECT row_key, kept, any_value(merged) AS merged, count(*) AS moved
                            FROM omop.identity_link WHERE review_id = $r AND tbl = '{table}' GROUP BY row_key, kept) c
                        ON x.row_key = c.row_key AND x.holder = c.kept AND x.nth <= c.moved) l
                WHERE omop.{table}.rowid = l.rid""",
            {"r": review_id},
        ).fetchone()
        restored += int(row[0]) if row else 0
    restored += _restore_person_facts(con, review_id)
    _x(
        con,
        """DELETE FROM omop.death WHERE person_id IN (
               SELECT kept FROM omop.identity_link WHERE review_id = $r AND tbl = 'death')""",
        {"r": review_id},
    )
    for table in ("person", "death"):
        _x(
            con,
            f"INSERT INTO omop.{table} SELECT * EXCLUDE (review_id) FROM omop.linked_{table} WHERE review_id = $r",
            {"r": review_id},
        )
        _x(con, f"DELETE FROM omop.linked_{table} WHERE review_id = $r", {"r": review_id})
    _x(con, "DELETE FROM omop.identity_link WHERE review_id = $r", {"r": review_id})
    return restored


def _move_genetic(geo: duckdb.DuckDBPyConnection, review_id: int, kept: int, merged: int) -> int:
    """The genetic results of ``merged`` to ``kept``, each noted in ``geo.genetic_link`` (one transaction)."""
    ids = {"r": review_id, "k": kept, "m": merged}
    _x(geo, "INSERT INTO geo.genetic_link SELECT $r, $k, $m, genetic_result_id FROM geo.genetic_result "
            "WHERE person_id = $m", ids)  # fmt: skip
    row = _x(geo, "UPDATE geo.genetic_result SET person_id = $k WHERE person_id = $m", ids).fetchone()
    return int(row[0]) if row else 0


def _restore_genetic(geo: duckdb.DuckDBPyConnection, review_id: int) -> int:
    """Reverse :func:`_move_genetic` for this review (one transaction)."""
    row = _x(
        geo,
        """UPDATE geo.genetic_result t SET person_id = l.merged FROM geo.genetic_link l
           WHERE l.review_id = $r AND t.genetic_result_id = l.row_key AND t.person_id = l.kept""",
        {"r": review_id},
    ).fetchone()
    _x(geo, "DELETE FROM geo.genetic_link WHERE review_id = $r", {"r": review_id})
    return int(row[0]) if row else 0


def _relabel(vault: duckdb.DuckDBPyConnection, review_id: int, pseudonym: str, candidate: str, by: str) -> None:
    """The record person's identity and mapping rows take the candidate's pseudonym (noted), the pair is linked."""
    vault.execute(VAULT_LINK_DDL)
    params = {"r": review_id, "p": pseudonym, "c": candidate, "by": by}
    for table in ("identity", "mapping"):
        _x(
            vault,
            f"INSERT INTO vault.identity_link SELECT $r, '{table}', kind, source_hash FROM vault.{table} "
            "WHERE pseudonym = $p",
            {"r": review_id, "p": pseudonym},
        )
        _x(vault, f"UPDATE vault.{table} SET pseudonym = $c WHERE pseudonym = $p", {"p": pseudonym, "c": candidate})
    _x(
        vault,
        "UPDATE vault.identity_review SET status = 'linked', decided_by = $by, decided_at = now() WHERE review_id = $r",
        {"r": review_id, "by": params["by"]},
    )


def _unlabel(vault: duckdb.DuckDBPyConnection, review_id: int, pseudonym: str) -> None:
    vault.execute(VAULT_LINK_DDL)
    for table in ("identity", "mapping"):
        _x(
            vault,
            f"""UPDATE vault.{table} t SET pseudonym = $p FROM vault.identity_link l
                WHERE l.review_id = $r AND l.tbl = '{table}' AND t.kind = l.kind AND t.source_hash = l.source_hash""",
            {"r": review_id, "p": pseudonym},
        )
    _x(vault, "DELETE FROM vault.identity_link WHERE review_id = $r", {"r": review_id})
    _reopen(vault, review_id)


def _reopen(vault: duckdb.DuckDBPyConnection, review_id: int) -> None:
    _x(
        vault,
        "UPDATE vault.identity_review SET status = 'open', decided_by = NULL, decided_at = NULL WHERE review_id = $r",
        {"r": review_id},
    )


def _traits(row: tuple[Any, ...]) -> Traits:
    family, used, given, birth, sex, place, ins = row
    return Traits(
        normalise(family) if family else None, normalise(used) if used else None,
        normalise(given) if given else None, birth if isinstance(birth, date) else None, (sex or "").lower() or None,
        normalise(place) if place else None, checked_ins(ins),
    )  # fmt: skip


def _identity(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(TRAIT_COLUMNS, row, strict=True))


def _same(a: object, b: object) -> str:
    if a is None or b is None:
        return "inconnu"
    return "identique" if a == b else "différent"


def _close(a: str | None, b: str | None) -> str:
    if not a or not b:
        return "inconnu"
    if a == b:
        return "identique"
    return "proche" if jaro_winkler(a, b) >= STRING_AGREEMENT else "différent"


def _comparison(a: Traits, b: Traits) -> dict[str, str]:
    """How each trait of two records compares, in French, without any value."""
    family = _close(a.family, b.family)
    if family != "identique" and (a.used or b.used):
        names = [(x, y) for x in (a.family, a.used) for y in (b.family, b.used) if x and y]
        if any(x == y for x, y in names):
            family = "identique (nom d'usage)"
    birth = _same(a.birth, b.birth)
    if a.birth and b.birth and birth == "différent" and (a.birth.day, a.birth.month) == (b.birth.month, b.birth.day):
        birth = "jour et mois inversés"
    return {
        "nom": family, "prénom": _close(a.given, b.given), "naissance": birth, "sexe": _same(a.sex, b.sex),
        "lieu de naissance": _same(a.birth_place, b.birth_place), "INS": _same(a.ins, b.ins),
    }  # fmt: skip


__all__ = ["IdentityVigilance", "ReviewItem", "forget", "may_read_identities", "reviewer_profiles"]
