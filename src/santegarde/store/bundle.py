"""A FHIR ``transaction`` or ``batch`` Bundle read into the writes it asks for (issue 18).

A transaction: a patient with its observations in one request, all stored or none. Each entry is a ``POST``
(create) or a ``PUT`` (update, with ``ifMatch`` if given) of one resource. References between entries by ``fullUrl``
(``urn:uuid:…``) are resolved to the ids the created resources take (their own ``id`` if they carry one, else a new
UUID). Anything else — another Bundle type, another method, an entry without a resource, a reference to no entry of
the Bundle — is refused before anything is written, with a sentence.

A batch: the same entries, each on its own (its own outcome, stored or refused whatever the others do). An entry that
cannot be read is that entry's refusal, not the Bundle's; and since no entry may depend on another, an entry that
refers to another by ``urn:uuid`` is refused (a transaction links them).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from santegarde.store.mapping import MappingError

MAX_ENTRIES = 1000


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
        raise MappingError(
            "POST /fhir takes a Bundle of type 'transaction' (all its entries stored, or none) or 'batch' (each "
            f"entry stored or refused on its own): this is a {bundle.get('resourceType')} of type '{asked}'."
        )
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise MappingError(f"The {asked} Bundle has no entry: add one entry per resource to create or update.")
    if len(entries) > MAX_ENTRIES:
        raise MappingError(
            f"The {asked} Bundle has {len(entries)} entries, more than {MAX_ENTRIES}: split it into several."
        )
    return str(asked)


def writes(bundle: Mapping[str, Any]) -> list[Write]:
    """The writes of a transaction Bundle, in the Bundle's order, references between entries resolved."""
    if kind(bundle) != TRANSACTION:
        raise MappingError("This Bundle is a batch: its entries are stored one by one (see batch).")
    parsed = [_entry(i, e, TRANSACTION) for i, e in enumerate(bundle["entry"], start=1)]
    targets: dict[str, str] = {}
    for i, (full_url, write) in enumerate(parsed, start=1):
        if full_url is None:
            continue
        if full_url in targets:
            raise MappingError(f"Entry {i} repeats the fullUrl {full_url}: give each entry its own urn:uuid.")
        targets[full_url] = f"{write.body['resourceType']}/{write.body['id']}"
    return [
        Write(_resolved(write.body, targets, i), write.creating, write.if_match)
        for i, (_, write) in enumerate(parsed, start=1)
    ]


def batch(bundle: Mapping[str, Any]) -> list[Write | MappingError]:
    """Each entry of a batch Bundle, in order: its write, or why that entry cannot be done (the others go on)."""
    if kind(bundle) != BATCH:
        raise MappingError("This Bundle is a transaction: its entries are stored together (see writes).")
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
            raise MappingError(
                f"Entry {i} refers to {ref}, an entry of the Bundle: the entries of a batch stand alone. Send a "
                "transaction to create resources that refer to each other, or refer to a stored resource as 'Type/id'."
            )
        for v in value.values():
            _standalone(v, i)
    elif isinstance(value, list):
        for v in value:
            _standalone(v, i)


def _entry(i: int, entry: Any, of: str) -> tuple[str | None, Write]:
    """(its fullUrl if a urn:uuid, the write) of entry ``i`` (counted from 1)."""
    if not isinstance(entry, dict):
        raise MappingError(f"Entry {i} of the {of} Bundle is not an object with a resource and a request.")
    resource, request = entry.get("resource"), entry.get("request")
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise MappingError(f"Entry {i} of the {of} Bundle has no resource: give each entry its resource.")
    if not isinstance(request, dict):
        raise MappingError(
            f'Entry {i} has no request: say what to do with it, e.g. "request": '
            f'{{"method": "POST", "url": "{resource["resourceType"]}"}}.'
        )
    kind, method, url = resource["resourceType"], str(request.get("method", "")).upper(), str(request.get("url", ""))
    full_url = entry.get("fullUrl")
    full_url = full_url if isinstance(full_url, str) and full_url.startswith("urn:uuid:") else None
    if method == "POST":
        if url != kind:
            raise MappingError(f"Entry {i} posts a {kind} to '{url}': the url of a create is its type, '{kind}'.")
        rid = str(resource.get("id") or uuid.uuid4())
        return full_url, Write({**resource, "id": rid}, creating=True)
    if method == "PUT":
        rid = url.removeprefix(f"{kind}/")
        if rid == url or not rid or "/" in rid or str(resource.get("id", rid)) != rid:
            raise MappingError(
                f"Entry {i} puts a {kind} with id '{resource.get('id')}' at '{url}': the url of an update is "
                f"'{kind}/<its id>'."
            )
        return full_url, Write(
            {**resource, "id": rid},
            creating=False,
            if_match=etag_version(request.get("ifMatch"), f"The ifMatch of entry {i}"),
        )
    raise MappingError(
        f"Entry {i} asks for {method or 'no method'}: a {of} here creates (POST) and updates (PUT) resources; "
        "read, search and delete them with their own requests."
    )


def etag_version(etag: Any, named: str = "If-Match") -> int | None:
    """The version an ETag names (W/"3", "3" or 3), None for no ETag; ``named``: where it was given, for the
    refusal (the If-Match header, or an entry's ifMatch)."""
    if etag is None:
        return None
    number = str(etag).strip().removeprefix("W/").strip('"')
    if not number.isascii() or not number.isdigit() or len(number) > 9:
        raise MappingError(f'{named} names a version by its ETag, e.g. W/"3"; {str(etag)[:40]!r} is not one.')
    return int(number)


def _resolved(value: Any, targets: Mapping[str, str], i: int) -> Any:
    """``value`` with every reference to an entry's fullUrl replaced by that entry's Type/id."""
    if isinstance(value, dict):
        out = {k: _resolved(v, targets, i) for k, v in value.items()}
        ref = value.get("reference")
        if isinstance(ref, str) and ref.startswith("urn:uuid:"):
            if ref not in targets:
                raise MappingError(
                    f"Entry {i} refers to {ref}, which is no entry of this Bundle: give that entry this fullUrl, or "
                    "refer to a stored resource as 'Type/id'."
                )
            out["reference"] = targets[ref]
        return out
    if isinstance(value, list):
        return [_resolved(v, targets, i) for v in value]
    return value
