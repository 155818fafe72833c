"""A FHIR ``transaction`` or ``batch`` Bundle read into the writes it asks for (issue 18).

A transaction: a patient with its observations in one request, all stored or none. Each entry is a ``POST``
(create) or a ``PUT`` (update, with ``ifMatch`` if given) of one resource. References between entries by ``fullUrl``
(``urn:uuid:…``) are resolved to the ids the created resources take (their own ``id`` if they carry one, else a new
UUID). Anything else — another Bundle type, another method, an entry without a resource, a reference to no entry of
the Bundle — is refused before anything is written, with a sentence (French by default, English on request).

A batch: the same entries, each on its own (its own outcome, stored or refused whatever the others do). An entry that
cannot be read is that entry's refusal, not the Bundle's; and since no entry may depend on another, an entry that
refers to another by ``urn:uuid`` is refused (a transaction links them).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from santegarde import refusals
from santegarde.errors import WordedError
from santegarde.store.mapping import MappingError

MAX_ENTRIES = 1000


class BundleRefused(WordedError, MappingError):
    """A Bundle, or one of its entries, that cannot be read into writes: worded in French (the default) and in
    English (``Accept-Language: en``) from the catalogue's ``bundle`` area."""

    def __init__(self, key: str, /, **facts: Any) -> None:
        super().__init__(refusals.sentences("bundle", key, **facts))


@dataclass(frozen=True, slots=True)
class Write:
    """One entry of the transaction: the resource (references resolved), create or update, and the version an
    update expects (None: any)."""

    body: dict[str, Any]
    creating: bool
    if_match: int | None = None


TRANSACTION, BATCH = "transaction", "batch"


def kind(bundle: Mapping[str, Any]) -> str:
    """``transaction`` or ``batch``: what the Bundle asks for, once it holds between 1 and MAX_ENTRIES entries."""
    asked = bundle.get("type")
    if bundle.get("resourceType") != "Bundle" or asked not in (TRANSACTION, BATCH):
        none = {"fr": "(aucun)", "en": "(none)"}
        given = (("resource", bundle.get("resourceType")), ("type", asked))
        raise BundleRefused("not_a_bundle", **{key: str(value)[:40] if value else none for key, value in given})
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise BundleRefused("no_entry", type=asked)
    if len(entries) > MAX_ENTRIES:
        raise BundleRefused("too_many", type=asked, count=len(entries), max=MAX_ENTRIES)
    return str(asked)


def writes(bundle: Mapping[str, Any]) -> list[Write]:
    """The writes of a transaction Bundle, in the Bundle's order, references between entries resolved."""
    if kind(bundle) != TRANSACTION:
        raise BundleRefused("is_batch")
    parsed = [_entry(i, e, TRANSACTION) for i, e in enumerate(bundle["entry"], start=1)]
    targets: dict[str, str] = {}
    for i, (full_url, write) in enumerate(parsed, start=1):
        if full_url is None:
            continue
        if full_url in targets:
            raise BundleRefused("repeated_full_url", entry=i, url=full_url)
        targets[full_url] = f"{write.body['resourceType']}/{write.body['id']}"
    return [
        Write(_resolved(write.body, targets, i), write.creating, write.if_match)
        for i, (_, write) in enumerate(parsed, start=1)
    ]


def batch(bundle: Mapping[str, Any]) -> list[Write | MappingError]:
    """Each entry of a batch Bundle, in order: its write, or why that entry cannot be done (the others go on)."""
    if kind(bundle) != BATCH:
        raise BundleRefused("is_transaction")
    items: list[Write | MappingError] = []
    for i, raw in enumerate(bundle["entry"], start=1):
        try:
            _, write = _entry(i, raw, BATCH)
            _standalone(write.body, i)
        except MappingError as exc:
            items.append(exc)
        else:
            items.append(write)
    return items


def _standalone(value: Any, i: int) -> None:
    """Refuse a batch entry that refers to another entry (``urn:uuid:…``): batch entries do not depend on each other."""
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and ref.startswith("urn:uuid:"):
            raise BundleRefused("batch_link", entry=i, ref=ref)
        for v in value.values():
            _standalone(v, i)
    elif isinstance(value, list):
        for v in value:
            _standalone(v, i)


def _entry(i: int, entry: Any, of: str) -> tuple[str | None, Write]:
    """(its fullUrl if a urn:uuid, the write) of entry ``i`` (counted from 1)."""
    if not isinstance(entry, dict):
        raise BundleRefused("not_an_object", entry=i, type=of)
    resource, request = entry.get("resource"), entry.get("request")
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise BundleRefused("no_resource", entry=i, type=of)
    if not isinstance(request, dict):
        raise BundleRefused("no_request", entry=i, resource=resource["resourceType"])
    kind, method, url = resource["resourceType"], str(request.get("method", "")).upper(), str(request.get("url", ""))
    full_url = entry.get("fullUrl")
    full_url = full_url if isinstance(full_url, str) and full_url.startswith("urn:uuid:") else None
    if method == "POST":
        if url != kind:
            raise BundleRefused("create_url", entry=i, resource=kind, url=url)
        rid = str(resource.get("id") or uuid.uuid4())
        return full_url, Write({**resource, "id": rid}, creating=True)
    if method == "PUT":
        rid = url.removeprefix(f"{kind}/")
        if rid == url or not rid or "/" in rid or str(resource.get("id", rid)) != rid:
            raise BundleRefused("update_url", entry=i, resource=kind, id=resource.get("id"), url=url)
        return full_url, Write(
            {**resource, "id": rid},
            creating=False,
            if_match=etag_version(request.get("ifMatch"), entry=i),
        )
    asked = {"fr": method, "en": method} if method else refusals.sentences("bundle", "no_method")
    raise BundleRefused("method", entry=i, method=asked, type=of)


def etag_version(etag: Any, entry: int | None = None) -> int | None:
    """The version an ETag names (W/"3", "3" or 3), None for no ETag; ``entry``: the Bundle entry whose ifMatch
    it is, for the refusal (None: the If-Match header)."""
    if etag is None:
        return None
    number = str(etag).strip().removeprefix("W/").strip('"')
    if not number.isascii() or not number.isdigit() or len(number) > 9:
        named = (
            refusals.sentences("bundle", "if_match_entry", entry=entry)
            if entry is not None
            else refusals.sentences("bundle", "if_match_header")
        )
        raise BundleRefused("etag", named=named, value=repr(str(etag)[:40]))
    return int(number)


def _resolved(value: Any, targets: Mapping[str, str], i: int) -> Any:
    """``value`` with every reference to an entry's fullUrl replaced by that entry's Type/id."""
    if isinstance(value, dict):
        out = {k: _resolved(v, targets, i) for k, v in value.items()}
        ref = value.get("reference")
        if isinstance(ref, str) and ref.startswith("urn:uuid:"):
            if ref not in targets:
                raise BundleRefused("dangling", entry=i, ref=ref)
            out["reference"] = targets[ref]
        return out
    if isinstance(value, list):
        return [_resolved(v, targets, i) for v in value]
    return value
