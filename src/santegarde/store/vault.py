"""Encrypted persistence of record versions: parts under per-patient keys, and keyed blind indexes.

Internal to the store: only ``santegarde.store.service`` calls it, after identity and policy have
allowed the request. Nothing here decides anything; everything here is ciphertext at rest.

- A patient's parts are encrypted with that patient's data key for the key family of the part's
  category (AES-256-GCM, associated data binding record, version and category); the patient key is
  wrapped by the family key of the organisation's keyring. Destroying a patient's keys makes every
  copy of their parts unreadable (crypto-shredding).
- Directory resources (professionals, organisations) are encrypted under the identity family key.
- Blind indexes are HMAC-SHA256 digests, under a key derived from the identity key, of normalised
  identifiers, names, name prefixes and birth dates: equality and prefix search without decrypting anything.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, union, update

from santegarde.crypto import DecryptionRefused, KeyFamily, Keyring, decrypt, encrypt
from santegarde.referentials.model import CategoryKind, Referential
from santegarde.store.mapping import DIRECTORY
from santegarde.store.schema import patient_key, record, record_freeze, record_index, record_part

FAMILY_OF_KIND = {
    CategoryKind.HEALTH: KeyFamily.HEALTH,
    CategoryKind.SEX_LIFE: KeyFamily.HEALTH,
    CategoryKind.ETHNIC_ORIGIN: KeyFamily.HEALTH,
    CategoryKind.LIFESTYLE: KeyFamily.HEALTH,
    CategoryKind.IMAGING: KeyFamily.HEALTH,
    CategoryKind.FREE_TEXT: KeyFamily.HEALTH,
    CategoryKind.GENETIC: KeyFamily.GENETIC_LOCATION,
    CategoryKind.LOCATION: KeyFamily.GENETIC_LOCATION,
}


def family_of(ref: Referential, category: str) -> KeyFamily:
    """The key family of a category: health, genetic and location data apart from identity and administration."""
    found = ref.category(category)
    if found is None:
        return KeyFamily.IDENTITY
    return FAMILY_OF_KIND.get(found.kind, KeyFamily.IDENTITY)


@dataclass(frozen=True)
class Version:
    id: str
    version: int
    resource_type: str
    patient_id: str | None
    created_at: datetime
    created_by: str
    purpose: str
    free_text: bool
    categories: tuple[str, ...]
    # Read with the version by ``versions`` (one statement): its parts' ciphertexts and the record's freeze, if any.
    # None: not read yet (``part_tokens`` and ``freeze_reason`` then ask the database).
    tokens: dict[str, bytes] | None = field(default=None, compare=False, repr=False)
    frozen: tuple[str | None] | None = field(default=None, compare=False, repr=False)


class PatientKeys:
    """Per-patient data keys, created on first use and wrapped by the family key."""

    def __init__(self, ring: Keyring) -> None:
        self.ring = ring

    def get(
        self,
        conn: Connection,
        patient_id: str,
        family: KeyFamily,
        now: datetime,
        *,
        create: bool,
        wrapped: dict[str, bytes | None] | None = None,
    ) -> bytes:
        """The patient's data key of ``family``, unwrapped; ``wrapped``: the patient's wrapped keys by family as read
        in this transaction (None: no such key), to spare the lookup; a key created here is added to it."""
        if wrapped is not None and family in wrapped:
            found = wrapped[family]
        else:
            row = conn.execute(_KEY, {"patient_id": patient_id, "family": str(family)}).first()
            found = row.wrapped if row is not None else None
        if found is not None:
            return decrypt(self.ring, found, record=f"patient/{patient_id}", field=f"key/{family}")
        if not create:
            raise DecryptionRefused("keys_destroyed", patient=patient_id)
        key = AESGCM.generate_key(bit_length=256)
        sealed = encrypt(self.ring, family, key, record=f"patient/{patient_id}", field=f"key/{family}")
        conn.execute(insert(patient_key).values(patient_id=patient_id, family=family, wrapped=sealed, created_at=now))
        if wrapped is not None:
            wrapped[family] = sealed
        return key

    def wrapped_keys(self, conn: Connection, patient_id: str) -> dict[str, bytes | None]:
        """Every wrapped key of the patient, by family (None: none), in one statement (unwrapped only when used).

        Kept for one transaction only: a destroyed key must be missing from the next one."""
        found: dict[str, bytes | None] = dict.fromkeys(KeyFamily, None)
        found.update({str(r.family): r.wrapped for r in conn.execute(_KEYS, {"patient_id": patient_id})})
        return found

    def wrapped_keys_of(self, conn: Connection, patient_ids: Sequence[str]) -> dict[str, dict[str, bytes | None]]:
        """``wrapped_keys`` of many patients (a page of search results), in one statement per 500 patients."""
        unique = sorted(set(patient_ids))
        found: dict[str, dict[str, bytes | None]] = {p: dict.fromkeys(KeyFamily, None) for p in unique}
        for start in range(0, len(unique), 500):
            for r in conn.execute(_KEYS_OF, {"patient_ids": unique[start : start + 500]}):
                found[str(r.patient_id)][str(r.family)] = r.wrapped
        return found

    def wrapped_health_keys(self, conn: Connection, patient_ids: Sequence[str]) -> dict[str, bytes]:
        """The wrapped health keys of many patients (a patient whose keys were destroyed is absent), a few
        statements for all of them instead of one each."""
        found: dict[str, bytes] = {}
        unique = sorted(set(patient_ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            query = select(patient_key.c.patient_id, patient_key.c.wrapped).where(
                patient_key.c.patient_id.in_(chunk), patient_key.c.family == str(KeyFamily.HEALTH)
            )
            found.update({str(r.patient_id): r.wrapped for r in conn.execute(query)})
        return found

    def destroy(self, conn: Connection, patient_id: str) -> int:
        return int(conn.execute(delete(patient_key).where(patient_key.c.patient_id == patient_id)).rowcount)

    def destroy_many(self, conn: Connection, patient_ids: Collection[str]) -> list[str]:
        """Destroy the keys of these patients in one statement; those who had any, in order."""
        if not patient_ids:
            return []
        had = conn.execute(
            select(patient_key.c.patient_id).where(patient_key.c.patient_id.in_(patient_ids)).distinct()
        ).scalars()
        found = sorted(set(had))
        if found:
            conn.execute(delete(patient_key).where(patient_key.c.patient_id.in_(found)))
        return found


def families(ref: Referential, categories: Any) -> list[KeyFamily]:
    """The key families of a patient's parts in these categories (the directory needs no patient key)."""
    return sorted({family_of(ref, c) for c in categories if c != DIRECTORY})


_KEY = select(patient_key.c.wrapped).where(
    patient_key.c.patient_id == bindparam("patient_id"), patient_key.c.family == bindparam("family")
)
_KEYS_OF = select(patient_key.c.patient_id, patient_key.c.family, patient_key.c.wrapped).where(
    patient_key.c.patient_id.in_(bindparam("patient_ids", expanding=True))
)
_KEYS = select(patient_key.c.family, patient_key.c.wrapped).where(patient_key.c.patient_id == bindparam("patient_id"))


def _aad(rid: str, version: int, category: str) -> bytes:
    return f"santegarde:record:{rid}:{version}:{category}".encode()


def seal_part(
    keys: PatientKeys,
    conn: Connection,
    ref: Referential,
    v: Version,
    category: str,
    content: dict[str, Any],
    wrapped: dict[str, bytes | None] | None = None,
) -> bytes:
    data = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
    if v.patient_id is None or category == DIRECTORY:
        return encrypt(keys.ring, KeyFamily.IDENTITY, data, record=f"{v.id}/{v.version}", field=category)
    key = keys.get(conn, v.patient_id, family_of(ref, category), v.created_at, create=True, wrapped=wrapped)
    nonce = os.urandom(12)
    return b"SGP1" + nonce + AESGCM(key).encrypt(nonce, data, _aad(v.id, v.version, category))


def open_part(
    keys: PatientKeys,
    conn: Connection,
    ref: Referential,
    v: Version,
    category: str,
    token: bytes,
    wrapped: dict[str, bytes | None] | None = None,
) -> dict[str, Any]:
    if not token.startswith(b"SGP1"):
        data = decrypt(keys.ring, token, record=f"{v.id}/{v.version}", field=category)
        return dict(json.loads(data))
    assert v.patient_id is not None
    key = keys.get(conn, v.patient_id, family_of(ref, category), v.created_at, create=False, wrapped=wrapped)
    try:
        data = AESGCM(key).decrypt(token[4:16], token[16:], _aad(v.id, v.version, category))
    except InvalidTag:
        raise DecryptionRefused("part_altered", resource=f"{v.resource_type}/{v.id}") from None
    return dict(json.loads(data))


def seal_derived(
    keys: PatientKeys, conn: Connection, patient_id: str, label: str, content: Any, now: datetime
) -> bytes:
    """A module's derived data about a patient (e.g. a pseudonymised extract), sealed under the patient's health key:
    destroying the patient's keys (erasure) makes it unreadable with the rest. ``label`` binds it to its place."""
    key = keys.get(conn, patient_id, KeyFamily.HEALTH, now, create=True)
    data = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
    nonce = os.urandom(12)
    return b"SGD1" + nonce + AESGCM(key).encrypt(nonce, data, f"santegarde:derived:{label}".encode())


def open_derived(
    keys: PatientKeys,
    conn: Connection,
    patient_id: str,
    label: str,
    token: bytes,
    wrapped: dict[str, bytes | None] | None = None,
) -> Any:
    """What ``seal_derived`` sealed; None when the patient's keys were destroyed (the patient was erased).
    ``wrapped``: the patient's wrapped keys by family as the caller's statement read them (spares a lookup)."""
    try:
        key = keys.get(conn, patient_id, KeyFamily.HEALTH, datetime.min, create=False, wrapped=wrapped)
    except DecryptionRefused:
        return None
    try:
        data = AESGCM(key).decrypt(token[4:16], token[16:], f"santegarde:derived:{label}".encode())
    except InvalidTag:
        raise DecryptionRefused("derived_altered", label=label) from None
    return json.loads(data)


def version_counts(conn: Connection, patient_ids: Sequence[str]) -> dict[str, int]:
    """How many record versions (of any type, current or not) each patient has: every write adds at least one."""
    if not patient_ids:
        return {}
    query = (
        select(record.c.patient_id, func.count())
        .where(record.c.patient_id.in_(list(patient_ids)))
        .group_by(record.c.patient_id)
    )
    found = {str(p): int(n) for p, n in conn.execute(query)}
    return {p: found.get(p, 0) for p in patient_ids}


def current_count(conn: Connection, patient_id: str, resource_type: str, id_suffix: str = "") -> int:
    """How many current records of this type the patient has (those whose id ends with ``id_suffix``)."""
    query = (
        select(func.count())
        .select_from(record)
        .where(
            record.c.patient_id == patient_id,
            record.c.current.is_(True),
            record.c.resource_type == resource_type,
            record.c.id.like(f"%{id_suffix}"),
        )
    )
    return int(conn.execute(query).scalar_one())


def write_version(
    keys: PatientKeys,
    conn: Connection,
    ref: Referential,
    v: Version,
    parts: dict[str, dict[str, Any]],
    *,
    first: bool = False,
    wrapped: dict[str, bytes | None] | None = None,
) -> None:
    """Insert the version and its encrypted parts (one multi-row insert); ``first``: the caller found no current
    version of this id in this transaction, so there is none to supersede (a concurrent writer of the same id
    fails on the primary key); ``wrapped``: the patient's wrapped keys the caller read in this transaction."""
    if not first:
        conn.execute(update(record).where(record.c.id == v.id, record.c.current.is_(True)).values(current=False))
    conn.execute(
        insert(record).values(
            id=v.id,
            version=v.version,
            resource_type=v.resource_type,
            patient_id=v.patient_id,
            current=True,
            free_text=v.free_text,
            created_at=v.created_at,
            created_by=v.created_by,
            purpose=v.purpose,
        )
    )
    needs = families(ref, parts) if v.patient_id is not None else []
    if v.patient_id is not None and needs and (wrapped is None or any(f not in wrapped for f in needs)):
        wrapped = keys.wrapped_keys(conn, v.patient_id)
    rows = [
        {
            "record_id": v.id,
            "version": v.version,
            "category": category,
            "token": seal_part(keys, conn, ref, v, category, content, wrapped),
        }
        for category, content in parts.items()
    ]
    if rows:
        conn.execute(insert(record_part).values(rows))


_WITH_PARTS = select(
    record, record_part.c.category, record_part.c.token, record_freeze.c.reason.label("frozen_reason")
).select_from(
    record.outerjoin(
        record_part, and_(record_part.c.record_id == record.c.id, record_part.c.version == record.c.version)
    ).outerjoin(record_freeze, record_freeze.c.record_id == record.c.id)
)
_VERSIONS = _WITH_PARTS.where(record.c.id == bindparam("rid")).order_by(record.c.version.desc())
_CURRENT = _VERSIONS.where(record.c.current.is_(True))
_CURRENT_OF = _WITH_PARTS.where(record.c.current.is_(True), record.c.id.in_(bindparam("rids", expanding=True)))


def versions(conn: Connection, rid: str, *, current_only: bool) -> list[Version]:
    """The versions of a record, newest first, with their parts' ciphertexts and the freeze: one statement."""
    return _grouped(conn.execute(_CURRENT if current_only else _VERSIONS, {"rid": rid}).all())


def current_versions(conn: Connection, rids: list[str]) -> dict[str, Version]:
    """The current version of each of these records (those that have one), by id: one statement for a page."""
    if not rids:
        return {}
    return {v.id: v for v in _grouped(conn.execute(_CURRENT_OF, {"rids": rids}).all())}


def _grouped(rows: Sequence[Any]) -> list[Version]:
    """Rows of record ⟕ part ⟕ freeze as versions, in the rows' order."""
    grouped: dict[tuple[str, int], list[Any]] = {}
    for row in rows:
        grouped.setdefault((str(row.id), int(row.version)), []).append(row)
    result = []
    for group in grouped.values():
        row = group[0]
        tokens = {r.category: r.token for r in group if r.category is not None}
        result.append(
            Version(
                row.id,
                row.version,
                row.resource_type,
                row.patient_id,
                row.created_at,
                row.created_by,
                row.purpose,
                bool(row.free_text),
                tuple(sorted(tokens)),
                tokens,
                (row.frozen_reason,),
            )
        )
    return result


def part_tokens(conn: Connection, v: Version) -> dict[str, bytes]:
    if v.tokens is not None:
        return dict(v.tokens)
    rows = conn.execute(
        select(record_part.c.category, record_part.c.token).where(
            record_part.c.record_id == v.id, record_part.c.version == v.version
        )
    )
    return {r.category: r.token for r in rows}


def freeze_reason(conn: Connection, v: Version) -> str | None:
    """Why the record is frozen (None: it is not), as read with the version or asked now."""
    if v.frozen is not None:
        return v.frozen[0]
    return conn.execute(select(record_freeze.c.reason).where(record_freeze.c.record_id == v.id)).scalar()


# -- blind indexes ---------------------------------------------------------------------------------


def index_key(ring: Keyring) -> bytes:
    _, identity = ring.key(KeyFamily.IDENTITY)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"santegarde:blind-index:v1").derive(identity)


def console_key(ring: Keyring) -> bytes:
    """The key that signs the web console's form tokens (CSRF): derived from the identity key, never stored, hence
    the same in every worker and after a restart."""
    _, identity = ring.key(KeyFamily.IDENTITY)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"santegarde:console-csrf:v1").derive(identity)


def page_key(ring: Keyring) -> bytes:
    """The key that seals search page links (store/search.py): derived from the identity key, never stored."""
    _, identity = ring.key(KeyFamily.IDENTITY)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"santegarde:search-page:v1").derive(identity)


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(letters.upper().replace("-", " ").split())


def digest(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}:{normalise(value)}".encode(), hashlib.sha256).hexdigest()


# Name prefixes are indexed from PREFIX_MIN letters (a one-letter prefix would split the patients into a few
# large groups whose sizes give the initials away) up to PREFIX_MAX letters (a longer search is matched on its
# first PREFIX_MAX letters, then on the decrypted name). Every name part has exactly PREFIX_MAX - PREFIX_MIN + 1
# prefix rows, padded with random digests that match nothing, so that the index does not tell a name's length.
PREFIX_MIN = 2
PREFIX_MAX = 12
PREFIX = "~"  # suffix of a prefix kind: "family~" indexes the prefixes of the family names


def prefixes(text: str) -> list[str]:
    """The normalised prefixes a name is found by (PREFIX_MIN to PREFIX_MAX letters)."""
    name = normalise(text)
    return [name[:n] for n in range(PREFIX_MIN, min(len(name), PREFIX_MAX) + 1)]


def index_terms(body: dict[str, Any]) -> list[tuple[str, str]]:
    """What a resource can be searched by: identifiers (with and without system), names and their prefixes,
    a patient's managing organisation, birth date and birth year."""
    terms: list[tuple[str, str]] = []
    for i in body.get("identifier", []):
        terms.append(("identifier", f"{i.get('system', '')}|{i.get('value', '')}"))
        terms.append(("identifier_value", str(i.get("value", ""))))
    names = body.get("name")
    if isinstance(names, str):  # an Organization's name
        terms.append(("name", names))
    for name in names if isinstance(names, list) else []:
        if name.get("family"):
            terms.append(("family", name["family"]))
        terms.extend(("given", given) for given in name.get("given", []))
    organisation = body.get("managingOrganization")
    if isinstance(organisation, dict) and organisation.get("reference"):  # the patient's establishment (AAC-8)
        terms.append(("organization", str(organisation["reference"])))
    if body.get("birthDate"):
        terms.append(("birthdate", body["birthDate"]))
        terms.append(("birthyear", str(body["birthDate"])[:4]))
    return terms


def reindex(conn: Connection, key: bytes, rid: str, body: dict[str, Any], *, first: bool = False) -> None:
    """Replace the record's blind-index terms (one multi-row insert); ``first``: a new record, nothing to replace.

    Names also get the digests of their prefixes, padded with random digests to a fixed count so that the index
    does not tell a name's length."""
    if not first:
        conn.execute(delete(record_index).where(record_index.c.record_id == rid))
    rows = []
    for kind, value in index_terms(body):
        rows.append({"record_id": rid, "kind": kind, "digest": digest(key, kind, value)})
        if kind in ("family", "given", "name"):
            found = [digest(key, kind + PREFIX, p) for p in prefixes(value)]
            padding = [os.urandom(32).hex() for _ in range(PREFIX_MAX - PREFIX_MIN + 1 - len(found))]
            rows.extend({"record_id": rid, "kind": kind + PREFIX, "digest": d} for d in found + padding)
    if rows:
        conn.execute(insert(record_index).values(rows))


def patient_exists(conn: Connection, patient_id: str) -> bool:
    """Whether a current Patient record has this id."""
    found = conn.execute(
        select(record.c.id).where(
            record.c.id == patient_id, record.c.resource_type == "Patient", record.c.current.is_(True)
        )
    ).first()
    return found is not None


MERGED_WALKS = 100  # up to this many patients, one index walk each (search_ids); beyond, one IN


def search_ids(
    conn: Connection,
    key: bytes,
    resource_type: str,
    criteria: list[list[tuple[str, str]]],
    *,
    ids: list[str] | None = None,
    patients: list[str] | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = None,
) -> list[str]:
    """Ids of current records of a type, in id order (descending below ``before``), that match every criterion;
    the first ``limit`` of them (a page's worth: a search reads on from the last one when it needs more).

    A criterion is a list of alternatives (kind, value), matched through the blind index; ``ids`` and
    ``patients`` narrow to those record ids or to the records of those patients (ids in clear). The statement is
    built once per shape of search (how many criteria and alternatives, which narrowings) and its values bound:
    building it anew cost a search more than running it (issue 17's profile).
    """
    shape, values = _search_values(key, resource_type, criteria, ids, patients, after, before, limit)
    return [str(r) for r in conn.execute(_search_statement(shape), values).scalars()]


def search_versions(
    conn: Connection,
    key: bytes,
    resource_type: str,
    criteria: list[list[tuple[str, str]]],
    *,
    ids: list[str] | None = None,
    patients: list[str] | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int | None = None,
) -> list[Version]:
    """The current versions of the records ``search_ids`` finds, in the same order, with their parts' ciphertexts
    and the freeze: one statement for a page's candidates instead of one for their ids and one for their versions."""
    shape, values = _search_values(key, resource_type, criteria, ids, patients, after, before, limit)
    return _grouped(conn.execute(_versions_statement(shape), values).all())


def _search_values(
    key: bytes,
    resource_type: str,
    criteria: list[list[tuple[str, str]]],
    ids: list[str] | None,
    patients: list[str] | None,
    after: str | None,
    before: str | None,
    limit: int | None,
) -> tuple[_SearchShape, dict[str, Any]]:
    """The shape of a search (which statement) and its values (what to bind)."""
    walked = list(dict.fromkeys(patients)) if patients is not None else None
    walks = len(walked) if walked is not None and 1 < len(walked) <= MERGED_WALKS else 0
    shape = _SearchShape(
        tuple(len(alternatives) for alternatives in criteria),
        ids is not None,
        walks or (-1 if patients is None else 0),
        after is not None,
        before is not None,
        limit is not None,
    )
    values: dict[str, Any] = {"resource_type": resource_type, "after": after, "before": before, "limit": limit}
    for i, alternatives in enumerate(criteria):
        for j, (kind, value) in enumerate(alternatives):
            values[f"kind_{i}_{j}"] = kind
            values[f"digest_{i}_{j}"] = digest(key, kind, value)
    if ids is not None:
        values["ids"] = ids
    if walks:
        values.update((f"patient_{k}", one) for k, one in enumerate(walked or ()))
    elif patients is not None:
        values["patients"] = patients
    return shape, values


@dataclass(frozen=True)
class _SearchShape:
    """What makes two searches run the same statement with other values (``search_ids``)."""

    criteria: tuple[int, ...]  # alternatives per criterion
    ids: bool
    patients: int  # -1: any patient; 0: one IN over them; n: one index walk for each of n patients
    after: bool
    before: bool
    limit: bool


@functools.lru_cache(maxsize=512)
def _search_statement(shape: _SearchShape) -> Any:
    query = select(record.c.id).where(record.c.resource_type == bindparam("resource_type"), record.c.current.is_(True))
    for i, count in enumerate(shape.criteria):
        matching = select(record_index.c.record_id).where(
            or_(
                *(
                    and_(
                        record_index.c.kind == bindparam(f"kind_{i}_{j}"),
                        record_index.c.digest == bindparam(f"digest_{i}_{j}"),
                    )
                    for j in range(count)
                )
            )
        )
        query = query.where(record.c.id.in_(matching))
    if shape.ids:
        query = query.where(record.c.id.in_(bindparam("ids", expanding=True)))
    if shape.after:
        query = query.where(record.c.id > bindparam("after"))
    if shape.before:
        query = query.where(record.c.id < bindparam("before"))
    order = record.c.id.desc() if shape.before else record.c.id

    def limited(q: Any) -> Any:
        return q.limit(bindparam("limit")) if shape.limit else q

    if shape.patients > 0:
        # One walk of ix_record_patient_type per patient, merged and ordered by the database (its collation orders
        # the paging cursors): an IN over several patients leads SQLite's planner, without statistics, to walk every
        # current record of the type in id order instead.
        walks = [
            limited(query.where(record.c.patient_id == bindparam(f"patient_{k}")).order_by(order)).subquery().select()
            for k in range(shape.patients)
        ]
        merged = union(*walks).subquery()
        ordered = merged.c.id.desc() if shape.before else merged.c.id
        return limited(select(merged.c.id).order_by(ordered))
    if shape.patients == 0:
        query = query.where(record.c.patient_id.in_(bindparam("patients", expanding=True)))
    return limited(query.order_by(order))


@functools.lru_cache(maxsize=512)
def _versions_statement(shape: _SearchShape) -> Any:
    found = _search_statement(shape).subquery()
    order = record.c.id.desc() if shape.before else record.c.id
    return _WITH_PARTS.where(record.c.current.is_(True), record.c.id.in_(select(found.c.id))).order_by(order)
