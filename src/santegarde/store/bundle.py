"""A FHIR ``transaction`` Bundle read into the writes it asks for (issue 18): a patient with its observations in one
request, all stored or none.

Each entry is a ``POST`` (create) or a ``PUT`` (update, with ``ifMatch`` if given) of one resource. References
between entries by ``fullUrl`` (``urn:uuid:…``) are resolved to the ids the created resources take (their own
``id`` if they carry one, else a new UUID). Anything else — another Bundle type, another method, an entry without
a resource, a reference to no entry of the Bundle — is refused before anything is written, with a sentence.
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


def writes(bundle: Mapping[str, Any]) -> list[Write]:
    """The writes of a transaction Bundle, in the Bundle's order, references between entries resolved."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise MappingError(
            "POST /fhir takes a Bundle of type 'transaction' (all its entries stored, or none): "
            f"this is a {bundle.get('resourceType')} of type '{bundle.get('type')}'."
        )
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise MappingError("The transaction Bundle has no entry: add one entry per resource to create or update.")
    if len(entries) > MAX_ENTRIES:
        raise MappingError(
            f"The transaction Bundle has {len(entries)} entries, more than {MAX_ENTRIES}: split it into several."
        )
    parsed = [_entry(i, e) for i, e in enumerate(entries, start=1)]
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


def _entry(i: int, entry: Any) -> tuple[str | None, Write]:
    """(its fullUrl if a urn:uuid, the write) of entry ``i`` (counted from 1)."""
    if not isinstance(entry, dict):
        raise MappingError(f"Entry {i} of the transaction Bundle is not an object with a resource and a request.")
    resource, request = entry.get("resource"), entry.get("request")
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise MappingError(f"Entry {i} of the transaction Bundle has no resource: give each entry its resource.")
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
        return full_url, Write({**resource, "id": rid}, creating=False, if_match=_version(i, request.get("ifMatch")))
    raise MappingError(
        f"Entry {i} asks for {method or 'no method'}: a transaction here creates (POST) and updates (PUT) resources; "
        "read, search and delete them with their own requests."
    )


def _version(i: int, etag: Any) -> int | None:
    if etag is None:
        return None
    number = str(etag).strip().removeprefix("W/").strip('"')
    if not number.isascii() or not number.isdigit() or len(number) > 9:
        raise MappingError(f'Entry {i} names a version in ifMatch by its ETag, e.g. W/"3"; this is not one.')
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
