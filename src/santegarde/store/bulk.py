"""FHIR Bulk Data export (``$export``): every resource read through the one path, written to encrypted NDJSON
files bound to the account that asked, deleted when they expire.

A kick-off checks the session (two factors: the files hold health data), the parameters (``_type``, ``_since``,
``_outputFormat``, ``_typeFilter``: each filter parsed as the search of its type would be, never one that puts an
identifier, a name or a birth date in the URL) and that the account has no other export running, then queues the job
on this process's one export thread and answers at once. The job reads each type page by page with
``RecordService.search_page(..., operation="export")``: the same session gate, policy decision per category, care
check, objection check and audit entry (operation ``export``, one per resource) as a direct read or a search. A
record the path refuses is left out and counted (the refusal itself is traced by the path); a type the policy
refuses for this profile and purpose is left out whole, with the refusal's sentence in the job's OperationOutcome
file.

Files: one per type, under a private (0700) directory, as AES-256-GCM chunks under a key drawn at random for the
job and held in this process's memory only; each chunk's associated data names the job, the type, its position and
whether it is the last, so a file cannot be cut, reordered or swapped with another job's. The status and the
files answer only the account that asked, under the purpose it declared; every download is traced. A job expires
``lifetime`` after it completes: its files are deleted (on every export request and by a sweeper every minute),
and files left by an earlier process, whose key died with it, are deleted when the exports are opened.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import struct
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from santegarde.audit.trail import AuditEvent
from santegarde.errors import SantegardeError
from santegarde.identity import sessions
from santegarde.identity.clock import aware
from santegarde.private import PRIVATE_FILE, private_directory
from santegarde.referentials.model import Sensitivity
from santegarde.store import mapping
from santegarde.store import search as fhir_search
from santegarde.store.service import AccessDenied, NotFound

if TYPE_CHECKING:
    from santegarde.store.service import RecordService, Request

_log = logging.getLogger(__name__)
EXPORT_LIFETIME = timedelta(hours=1)
PAGE_SIZE = 500  # resources read per page of the export
CHUNK_BYTES = 256 * 1024  # plaintext per encrypted chunk
MAGIC = b"SGX1"
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
OUTCOMES = "OperationOutcome"
# The Patient compartment: the patients and the records that name a patient (FHIR Bulk Data, patient level).
PATIENT_TYPES = tuple(t for t in sorted(mapping.RESOURCES) if t == "Patient" or mapping.RESOURCES[t].patient_refs)


class ExportRefused(fhir_search.SearchRefused):
    """A bulk export the server cannot run as asked (a parameter it does not support, a value it cannot read)."""


class ExportBusy(SantegardeError):
    """The account already has an export running: one at a time per account."""


@dataclass
class Job:
    """An export: who asked, under which purpose, what, and where it stands (held in memory, never on disk)."""

    id: str
    login: str
    profile: str
    purpose: str
    types: tuple[str, ...]
    since: datetime | None
    request_url: str
    started: datetime
    key: bytes = field(repr=False)
    # _typeFilter: per type, the searches a resource must match (any of them); a type not named is exported whole
    filters: dict[str, tuple[tuple[tuple[str, str], ...], ...]] = field(default_factory=dict, repr=False)
    lenient: bool = False  # Prefer: handling=lenient: unsupported filter parameters ignored (and said so)
    state: str = "running"  # running, complete, failed, cancelled
    done: int = 0  # types exported so far
    counts: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    failure: SantegardeError | None = None
    expires: datetime | None = None

    @property
    def files(self) -> list[str]:
        """The files of a complete job: one per type that has resources, then the outcomes if any."""
        kinds = [t for t in self.types if self.counts.get(t)]
        return [*kinds, OUTCOMES] if self.errors or self.refused else kinds


class BulkExports:
    """The exports of one organisation's server: kick-off, status, files, cancel, expiry."""

    def __init__(self, records: RecordService, directory: Path | None = None, *, lifetime: timedelta = EXPORT_LIFETIME):
        self.records = records
        self.lifetime = lifetime
        self._directory = directory  # None: a private temporary directory, made at the first export
        if directory is not None and directory.exists():  # an earlier process's files: their key died with it
            for leftover in directory.iterdir():
                shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="santegarde-export")
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    @property
    def directory(self) -> Path:
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="santegarde-export-"))
        return private_directory(self._directory)

    # -- kick-off ----------------------------------------------------------------------------------

    def kick_off(
        self,
        req: Request,
        *,
        level: str,
        types: str | None,
        since: str | None,
        output_format: str | None,
        url: str,
        type_filters: list[str] | None = None,
        lenient: bool = False,
    ) -> Job:
        """Check the caller and the parameters, queue the export, return its job (running). ``type_filters``: the
        values of _typeFilter (FHIR Bulk Data), each a comma-separated list of ``Type?search`` (URL-encoded)."""
        self.sweep()
        ctx = self._caller(req, "export", ("", ""))
        if output_format is not None and output_format not in OUTPUT_FORMATS:
            self._refused(req, "export", "", "export.parameters")
            raise ExportRefused(
                f"_outputFormat {output_format[:60]!r} is not offered: this server writes NDJSON "
                "(application/fhir+ndjson); leave the parameter out or ask for that."
            )
        wanted = self._types(req, level, types)
        since_at = self._since(req, since)
        filters = self._filters(req, wanted, type_filters or [], lenient=lenient)
        with self._lock:
            running = next((j for j in self._jobs.values() if j.login == ctx.login and j.state == "running"), None)
            if running is not None:
                self._refused(req, "export", running.id, "export.busy")
                raise ExportBusy(
                    "You already have an export running: wait for it to complete (poll its status URL) or cancel it "
                    "(DELETE on its status URL), then ask again."
                )
            job = Job(
                secrets.token_hex(16),
                ctx.login,
                ctx.profile or "",
                req.purpose,
                wanted,
                since_at,
                url,
                self._now(),
                AESGCM.generate_key(bit_length=256),
                filters,
                lenient,
            )
            self._jobs[job.id] = job
        private_directory(self.directory / job.id)
        self._trace(ctx, req, "export.kick-off", ",".join(wanted)[:40], job.id)
        self._start_sweeper()
        self._pool.submit(self._run, job, req)
        return job

    def _types(self, req: Request, level: str, types: str | None) -> tuple[str, ...]:
        offered = PATIENT_TYPES if level == "patient" else tuple(sorted(mapping.RESOURCES))
        if types is None:
            return offered
        asked = [t.strip() for t in types.split(",") if t.strip()]
        unknown = [t for t in asked if t not in offered]
        if unknown or not asked:
            self._refused(req, "export", "", "export.parameters")
            where = "a patient-level export (the Patient compartment)" if level == "patient" else "this server"
            raise ExportRefused(
                f"_type names {', '.join(repr(t[:40]) for t in unknown) or 'no type'}, which {where} does not export; "
                f"the types are: {', '.join(offered)}."
            )
        return tuple(dict.fromkeys(asked))

    def _since(self, req: Request, since: str | None) -> datetime | None:
        if since is None:
            return None
        try:
            at = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            at = None
        if at is None or at.tzinfo is None or "T" not in since:
            self._refused(req, "export", "", "export.parameters")
            raise ExportRefused(
                f"_since takes an instant with its time zone, e.g. 2026-01-01T00:00:00Z (a '+' written %2B in a URL); "
                f"{since[:40]!r} is not one."
            )
        return at

    def _filters(
        self, req: Request, wanted: tuple[str, ...], values: list[str], *, lenient: bool
    ) -> dict[str, tuple[tuple[tuple[str, str], ...], ...]]:
        """The _typeFilter searches by type, each checked now as a search of its type would be (strict unless
        lenient), so that an export never starts on a filter it cannot apply."""
        found: dict[str, list[tuple[tuple[str, str], ...]]] = {}
        for item in (i.strip() for value in values for i in value.split(",")):
            try:
                kind, pairs = _type_filter(item, wanted)
                fhir_search.parse(kind, pairs, lenient=lenient)
            except fhir_search.SearchRefused as exc:
                self._refused(req, "export", "", "export.parameters")
                raise ExportRefused(f"_typeFilter {item[:80]!r}: {exc}") from None
            found.setdefault(kind, []).append(pairs)
        return {kind: tuple(searches) for kind, searches in found.items()}

    # -- the job -----------------------------------------------------------------------------------

    def _run(self, job: Job, req: Request) -> None:
        try:
            for kind in job.types:
                if job.state != "running":
                    return
                self._export_type(job, req, kind)
                job.done += 1
            if job.errors or job.refused:
                self._write_outcomes(job)
            with self._lock:
                if job.state == "running":
                    job.state, job.expires = "complete", self._now() + self.lifetime
        except SantegardeError as exc:  # the session ended or was refused midway: nothing is kept
            job.failure, job.state = exc, "failed"
            job.expires = self._now() + self.lifetime
            shutil.rmtree(self.directory / job.id, ignore_errors=True)
        except Exception:  # logged, not raised: nobody waits on the thread's result
            _log.exception("bulk export %s failed", job.id)
            job.failure = SantegardeError(
                "The export failed on an unexpected error (the server's log has it); nothing was kept: ask again."
            )
            job.state, job.expires = "failed", self._now() + self.lifetime
            shutil.rmtree(self.directory / job.id, ignore_errors=True)

    def _export_type(self, job: Job, req: Request, kind: str) -> None:
        """Every resource of ``kind`` the path lets this session read (matching one of the type's filters, if any),
        page by page; a resource two filters match is written once."""
        since = [("_lastUpdated", f"gt{job.since.isoformat()}")] if job.since is not None else []
        searches = job.filters.get(kind, ((),))
        written: set[str] | None = set() if len(searches) > 1 else None  # ids kept only to merge several filters
        count = refused = 0
        with _SealedWriter(self.directory / job.id / f"{kind}.ndjson.sgx", job.key, job.id, kind) as out:
            for search in searches:
                query = fhir_search.parse(kind, [*since, *search], lenient=job.lenient)
                if query.ignored:
                    job.errors.append(
                        f"_typeFilter for {kind}: {', '.join(query.ignored)} not supported, ignored (handling=lenient)."
                    )
                try:
                    found, left_out = self._export_search(job, req, replace(query, count=PAGE_SIZE), out, written)
                except AccessDenied as exc:  # the whole type, for this profile and purpose (traced by the path)
                    # The manifest's error file is written once, for software as much as for a person: in
                    # English, as the rest of the Bulk Data manifest.
                    job.errors.append(f"{kind} was not exported: {exc.in_language('en')}")
                    break
                count, refused = count + found, refused + left_out
        job.counts[kind] = count
        if refused:
            job.refused[kind] = refused

    def _export_search(
        self, job: Job, req: Request, query: fhir_search.Query, out: _SealedWriter, written: set[str] | None
    ) -> tuple[int, int]:
        """Write the resources one search finds, page by page, except those already ``written`` (None: no other
        search of the type); how many it wrote, how many the path refused."""
        cursor: fhir_search.Cursor | None = None
        count = refused = 0
        while job.state == "running":
            page = self.records.search_page(req, query, cursor, operation="export")
            for resource in page.entries:
                if written is not None:
                    if resource["id"] in written:
                        continue
                    written.add(resource["id"])
                out.write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
                count += 1
            refused += page.refused
            if not (page.more_after and page.examined):
                break
            cursor = fhir_search.Cursor(after=page.examined[-1])
        return count, refused

    def _write_outcomes(self, job: Job) -> None:
        lines = [
            f"{n} {kind} record(s) were left out: the read path refused them to this session under the purpose "
            f"'{job.purpose}' (policy, care relationship or the patient's objection; each refusal is in the audit "
            "trail)."
            for kind, n in job.refused.items()
        ]
        with _SealedWriter(self.directory / job.id / f"{OUTCOMES}.ndjson.sgx", job.key, job.id, OUTCOMES) as out:
            for sentence in [*job.errors, *lines]:
                issue = {"severity": "warning", "code": "suppressed", "diagnostics": sentence}
                out.write(json.dumps({"resourceType": "OperationOutcome", "issue": [issue]}).encode() + b"\n")

    # -- status, files, cancel ---------------------------------------------------------------------

    def status(self, req: Request, job_id: str) -> Job:
        """The caller's job (refused, as absent, to anyone else)."""
        self.sweep()
        return self._owned(req, job_id, "export.status", "")[0]

    def file(self, req: Request, job_id: str, kind: str) -> Iterator[bytes]:
        """The NDJSON of one type of a complete job of the caller's, decrypted chunk by chunk; the download traced."""
        self.sweep()
        job, ctx = self._owned(req, job_id, "export.download", kind[:40])
        if job.state != "complete" or kind not in job.files:
            raise self._absent(req, job_id, "export.download", kind[:40], "export_no_file", file=kind[:40])
        path = self.directory / job.id / f"{kind}.ndjson.sgx"
        chunks = _read_sealed(path, job.key, job.id, kind)
        first = next(chunks)  # opened and checked before the answer starts
        self._trace(ctx, req, "export.download", kind, job.id)

        def stream() -> Iterator[bytes]:
            yield first
            yield from chunks

        return stream()

    def cancel(self, req: Request, job_id: str) -> None:
        """Stop the caller's job if it runs and delete its files now."""
        job, ctx = self._owned(req, job_id, "export.delete", "")
        with self._lock:
            job.state = "cancelled"
            self._jobs.pop(job.id, None)
        shutil.rmtree(self.directory / job.id, ignore_errors=True)
        self._trace(ctx, req, "export.delete", "", job.id)

    def sweep(self) -> int:
        """Delete the jobs (and files) past their expiry; how many."""
        now = self._now()
        with self._lock:
            gone = [j for j in self._jobs.values() if j.expires is not None and j.expires <= now]
            for job in gone:
                del self._jobs[job.id]
        for job in gone:
            shutil.rmtree(self.directory / job.id, ignore_errors=True)
        return len(gone)

    def close(self) -> None:
        """Stop the export thread and the sweeper, and delete every file (their key dies with the process)."""
        self._stop.set()
        with self._lock:
            for job in self._jobs.values():
                job.state = "cancelled" if job.state == "running" else job.state
        self._pool.shutdown(wait=True)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    # -- helpers -----------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return aware(self.records.identity.now())

    def _start_sweeper(self) -> None:
        with self._lock:
            if self._sweeper is not None:
                return
            self._sweeper = threading.Thread(target=self._sweep_every_minute, name="santegarde-export-sweeper")
            self._sweeper.daemon = True
            self._sweeper.start()

    def _sweep_every_minute(self) -> None:
        while not self._stop.wait(60):
            self.sweep()

    def _caller(self, req: Request, operation: str, resource: tuple[str, str]) -> sessions.SessionContext:
        try:
            return sessions.require(self.records.identity, req.token, sensitivity=Sensitivity.SPECIAL)
        except SantegardeError:
            self.records.trace_refusal(req, operation, resource, "identity")
            raise

    def _owned(self, req: Request, job_id: str, operation: str, kind: str) -> tuple[Job, sessions.SessionContext]:
        ctx = self._caller(req, operation, (kind, job_id[:64]))
        job = self._jobs.get(job_id)
        if job is None or job.login != ctx.login:
            raise self._absent(req, job_id, operation, kind, "export_gone", hours=_hours(self.lifetime))
        if req.purpose != job.purpose:
            self._refused(req, operation, job.id, "export.purpose", kind)
            raise AccessDenied("export_purpose", purpose=job.purpose)
        return job, ctx

    def _absent(self, req: Request, job_id: str, operation: str, kind: str, what: str, **facts: Any) -> SantegardeError:
        self._refused(req, operation, job_id[:64], "export.not_found", kind)
        return NotFound(what, **facts)

    def _refused(self, req: Request, operation: str, job_id: str, rule: str, kind: str = "") -> None:
        self.records.trace_refusal(req, operation, (kind, job_id), rule)

    def _trace(self, ctx: sessions.SessionContext, req: Request, operation: str, kind: str, job_id: str) -> None:
        self.records.audit.append(
            AuditEvent(
                actor=ctx.login,
                profile=ctx.profile or "",
                operation=operation,
                resource_type=kind,
                resource_id=job_id,
                purpose=req.purpose,
                allowed=True,
                rule="export",
                section="",
                outcome="success",
                source=req.source,
                referential=self.records.ref.id,
            )
        )


# Parameters that shape a search's answer, not which resources it selects: meaningless in a filter.
_NOT_FILTERS = (*fhir_search.CONTROL, "_page", "_sort", "_elements", "_summary")


def _type_filter(item: str, wanted: tuple[str, ...]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """One _typeFilter search, ``Type?param=value&…``: its type and parameters, refused (SearchRefused) when the type
    is not exported, a parameter would put an identifier, a name or a birth date in the URL, or shapes the answer."""
    kind, mark, criteria = item.partition("?")
    if not mark or not criteria:
        raise fhir_search.SearchRefused(
            "a filter is a type and a search, e.g. Observation?code=http://loinc.org|29463-7 (URL-encoded)."
        )
    if kind not in wanted:
        raise fhir_search.SearchRefused(
            f"{kind[:40]} is not a type this export includes; filter one of: {', '.join(wanted)}."
        )
    try:
        pairs = tuple(parse_qsl(criteria, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise fhir_search.SearchRefused(
            "its search could not be read: write it as in a URL query, param=value&param=value."
        ) from None
    refused = fhir_search.in_url_refused(kind, (name for name, _ in pairs))
    if refused is not None:
        raise fhir_search.SearchRefused(
            f"the search parameter {refused} identifies a person: it must never appear in a URL (COM-CRY-1); "
            "export without it and select the people afterwards."
        )
    shaping = next((name for name, _ in pairs if name.split(":")[0] in _NOT_FILTERS), None)
    if shaping is not None:
        raise fhir_search.SearchRefused(f"{shaping} shapes a search's answer, it selects nothing: remove it.")
    return kind, pairs


def manifest(job: Job, base: str) -> dict[str, Any]:
    """The complete job's status body, as FHIR Bulk Data has it."""
    body: dict[str, Any] = {
        "transactionTime": job.started.isoformat(),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": kind, "url": f"{base}/$export-file/{job.id}/{kind}.ndjson", "count": job.counts[kind]}
            for kind in job.files
            if kind != OUTCOMES
        ],
        "error": [
            {"type": OUTCOMES, "url": f"{base}/$export-file/{job.id}/{OUTCOMES}.ndjson"}
            for kind in job.files
            if kind == OUTCOMES
        ],
        "extension": {"refused": dict(job.refused), "expires": job.expires.isoformat() if job.expires else None},
    }
    return body


def _hours(span: timedelta) -> dict[str, str]:
    """A lifetime in hours, in each language ("24 heures" / "24 hours")."""
    hours = span.total_seconds() / 3600
    return {
        "fr": f"{round(hours * 60)} minute" + ("s" if hours * 60 >= 2 else "")
        if hours < 1
        else f"{hours:g}".replace(".", ",") + (" heure" if hours < 2 else " heures"),
        "en": f"{hours:g} hour" + ("" if hours == 1 else "s"),
    }


# -- sealed files ------------------------------------------------------------------------------------


def _aad(job_id: str, kind: str, index: int, last: bool) -> bytes:
    return f"santegarde:export:{job_id}:{kind}:{index}:{int(last)}".encode()


class _SealedWriter:
    """NDJSON written as AES-GCM chunks (length, nonce, ciphertext); the last one marked, so a cut is seen."""

    def __init__(self, path: Path, key: bytes, job_id: str, kind: str) -> None:
        self._file = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE), "wb")
        self._file.write(MAGIC)
        self._aes, self._job, self._kind = AESGCM(key), job_id, kind
        self._buffer = bytearray()
        self._index = 0

    def __enter__(self) -> _SealedWriter:
        return self

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            self._seal(last=False)

    def _seal(self, *, last: bool) -> None:
        nonce = os.urandom(12)
        sealed = self._aes.encrypt(nonce, bytes(self._buffer), _aad(self._job, self._kind, self._index, last))
        self._file.write(struct.pack(">I", len(sealed)) + nonce + sealed)
        self._buffer.clear()
        self._index += 1

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self._seal(last=True)
        finally:
            self._file.close()


def _read_sealed(path: Path, key: bytes, job_id: str, kind: str) -> Iterator[bytes]:
    """The plaintext chunks of a sealed file, each checked; refused if altered, cut or another job's."""
    refused = SantegardeError(f"The {kind} file of this export was altered or cut on disk: ask for a new export.")
    aes = AESGCM(key)
    with path.open("rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise refused
        index = 0
        while True:
            head = f.read(4)
            if len(head) != 4:
                raise refused  # the chunk marked last never came
            sealed_len = struct.unpack(">I", head)[0]
            nonce, sealed = f.read(12), f.read(sealed_len)
            if len(sealed) != sealed_len:
                raise refused
            for last in (False, True):
                try:
                    plain = aes.decrypt(nonce, sealed, _aad(job_id, kind, index, last))
                    break
                except InvalidTag:
                    continue
            else:
                raise refused
            yield plain
            if last:
                if f.read(1):
                    raise refused
                return
            index += 1
