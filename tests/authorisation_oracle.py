"""What the référentiel's text allows, decided from its tables alone (never through santegarde.policy).

The oracle of tests/test_authorisation_matrix.py. It reads the référentiel as data (purposes and the
categories each uses, forbidden and out-of-scope purposes, formalities, forbidden categories and
consent, the profiles' access rules with their operations, purposes and — when a rule lists them —
elements, the profiles that never reach health data, and the care relationship) and says, for one
profile, operation, purpose and FHIR resource, which elements the profile may reach. It relies on
``santegarde.store.mapping`` only for what the brief makes the store's own vocabulary: which category
*kind* each element of a resource is (``mapping.split``) and which resources are directory resources.

It also keeps the matrix's rows, so that the terminal summary (tests/conftest.py) prints them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from santegarde.referentials.model import CategoryKind, Operation, OrganisationProfile, Referential, Sensitivity
from santegarde.store import mapping

DIRECTORY = "directory"
# Where the text lists no category of a kind at all, the broader kind that holds it (the store's design,
# written down here again rather than imported: an appointment is part of the identity and contact data
# when the text lists no appointment data of its own, an NIR is filed with the INS, a consent with the identity).
BROADER = {
    CategoryKind.NIR: CategoryKind.INS,
    CategoryKind.CONTACT: CategoryKind.IDENTITY,
    CategoryKind.ADMINISTRATIVE: CategoryKind.IDENTITY,
    CategoryKind.APPOINTMENT: CategoryKind.IDENTITY,
}
# The texts that ask for strong authentication on every access, not only on health data
# (AAC-SEC-AUT, EDS-SEC-AUT: the compassionate-access and warehouse référentiels).
EVERY_ACCESS_TWO_FACTORS = (OrganisationProfile.COMPASSIONATE, OrganisationProfile.WAREHOUSE)
# The practice's secretariat reads health data only for the health-insurance documents, and then only the
# billing elements of an encounter (pra-2020-081 §6: "certain information of a medical nature strictly
# limited to what their missions need"). The référentiel's access rules gain an `elements` field that says so;
# until a rule has that field, the oracle holds the list for the text.
PENDING_ELEMENTS: dict[tuple[str, str, str], list[str]] = {
    ("pra-2020-081", "secretariat", "health"): [
        f"Encounter.{e}"
        for e in ("status", "class", "type", "serviceType", "period", "subject", "participant", "serviceProvider")
    ],
}
OPERATION = {
    "read": Operation.READ,
    "search": Operation.READ,
    "history": Operation.READ,
    "create": Operation.WRITE,
    "update": Operation.WRITE,
    "rights": Operation.READ,
}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    why: str
    elements: frozenset[str] | None = None  # None: the whole category; else the element names of the resource


def text_allows(
    ref: Referential,
    profile: str,
    operation: Operation,
    category_id: str,
    purpose_id: str,
    resource_type: str,
    *,
    formality: bool = True,
    consent: bool = False,
) -> Verdict:
    """May ``profile`` do ``operation`` on ``category_id`` for ``purpose_id`` under the text? Deny by default."""
    purpose = ref.purpose(purpose_id)
    if purpose is None:
        return Verdict(False, "undeclared purpose")
    if purpose.forbidden:
        return Verdict(False, "forbidden purpose")
    if purpose.out_of_scope:
        return Verdict(False, "purpose out of scope")
    if purpose.requires_formality and not formality:
        return Verdict(False, "formality missing")
    category = ref.category(category_id)
    if category is None:
        return Verdict(False, "no such category")
    if category.forbidden:
        return Verdict(False, "forbidden category")
    if category_id not in purpose.categories:
        return Verdict(False, "category not used by the purpose")
    if category.requires_consent and operation is Operation.WRITE and not consent:
        return Verdict(False, "consent missing")
    accessor = ref.accessor(profile)
    if accessor is None:
        return Verdict(False, "unknown profile")
    if not accessor.health_data and category.sensitivity is Sensitivity.SPECIAL:
        return Verdict(False, "profile never reaches health data")
    for i, rule in enumerate(accessor.access):
        if category_id not in rule.categories or operation not in rule.operations:
            continue
        if rule.purposes and purpose_id not in rule.purposes:
            continue
        if hasattr(rule, "elements"):
            listed: list[str] = list(getattr(rule, "elements", None) or [])
        else:
            listed = (
                PENDING_ELEMENTS.get((ref.id, profile, category_id), []) if rule.categories == [category_id] else []
            )
        if not listed:
            return Verdict(True, f"access[{i}]")
        mine = frozenset(e.split(".", 1)[1] for e in listed if e.split(".", 1)[0] == resource_type)
        if mine:
            return Verdict(True, f"access[{i}] (elements)", mine)
    return Verdict(False, "no access rule")


def directory_allows(
    ref: Referential, profile: str, purpose_id: str, operation: Operation, *, formality: bool = True
) -> Verdict:
    """The directory of professionals holds no patient data: a profile reads it when it reaches some data, and
    writes it when it may write some data, for a declared purpose the text neither forbids nor excludes (a
    forbidden purpose is forbidden for every datum)."""
    purpose = ref.purpose(purpose_id)
    accessor = ref.accessor(profile)
    if accessor is None or not any(operation in rule.operations for rule in accessor.access):
        return Verdict(False, f"profile may {operation} no data")
    if purpose is None:
        return Verdict(False, "undeclared purpose")
    if purpose.forbidden:
        return Verdict(False, "forbidden purpose")
    if purpose.out_of_scope:
        return Verdict(False, "purpose out of scope")
    if purpose.requires_formality and not formality:
        return Verdict(False, "formality missing")
    return Verdict(True, "directory")


def category_for(ref: Referential, kind: CategoryKind | None, purpose_id: str) -> str | None:
    """The text's category that holds data of ``kind`` when written for ``purpose_id`` (None: the purpose
    does not use such data, so writing it is refused by minimisation)."""
    if kind is None:
        return DIRECTORY
    purpose = ref.purpose(purpose_id)
    used = set(purpose.categories) if purpose else set()
    current: CategoryKind | None = kind
    while current is not None:
        of_kind = [c.id for c in ref.categories if c.kind == current]
        if of_kind:
            return next((c for c in of_kind if c in used), None)
        current = BROADER.get(current)
    return None


def tokens(body: dict[str, Any]) -> dict[str, CategoryKind | None]:
    """The resource's elements (identifiers one by one, by system) and the category kind of each."""
    found: dict[str, CategoryKind | None] = {}
    for kind, content in mapping.split(body).items():
        for key, value in content.items():
            if key == "identifier" and kind is not None:
                for identifier in value:
                    found[f"identifier:{identifier.get('system')}"] = kind
            else:
                found[key] = kind
    return found


def element(token: str) -> str:
    return token.split(":", 1)[0]


def is_directory(resource_type: str) -> bool:
    return mapping.resource_map(resource_type).main is None


def two_factors_needed(ref: Referential, resource_type: str) -> bool:
    """Every access to patient data (identity included) needs two factors; the directory too under the texts
    that ask it for every access."""
    return not is_directory(resource_type) or ref.organisation_profile in EVERY_ACCESS_TWO_FACTORS


@dataclass(frozen=True)
class Expected:
    allowed: bool
    why: str
    stored: dict[str, str] = field(default_factory=dict)  # token → category (writes: where it would be stored)


def expect_write(
    ref: Referential, profile: str, purpose_id: str, body: dict[str, Any], *, two_factors: bool = True
) -> Expected:
    resource_type = str(body["resourceType"])
    if not two_factors and two_factors_needed(ref, resource_type):
        return Expected(False, "second factor missing")
    stored: dict[str, str] = {}
    for token, kind in tokens(body).items():
        category = category_for(ref, kind, purpose_id)
        if category is None:
            return Expected(False, f"minimisation: {kind} not used by {purpose_id}")
        stored[token] = category
    for category in sorted(set(stored.values())):
        if category == DIRECTORY:
            verdict = directory_allows(ref, profile, purpose_id, Operation.WRITE)
        else:
            verdict = text_allows(ref, profile, Operation.WRITE, category, purpose_id, resource_type)
        if not verdict.allowed:
            return Expected(False, f"{category}: {verdict.why}")
        if verdict.elements is not None:
            outside = {element(t) for t, c in stored.items() if c == category} - verdict.elements
            if outside:
                return Expected(False, f"{category}: elements {sorted(outside)} outside the rule")
    return Expected(True, "allowed", stored)


def expect_read(
    ref: Referential,
    profile: str,
    purpose_id: str,
    resource_type: str,
    stored: dict[str, str],
    *,
    two_factors: bool = True,
) -> frozenset[str]:
    """The tokens of a stored record the profile may see when reading it for ``purpose_id`` (empty: refused)."""
    if not two_factors and two_factors_needed(ref, resource_type):
        return frozenset()
    visible: set[str] = set()
    for category in set(stored.values()):
        if category == DIRECTORY:
            verdict = directory_allows(ref, profile, purpose_id, Operation.READ)
        else:
            verdict = text_allows(ref, profile, Operation.READ, category, purpose_id, resource_type)
        if not verdict.allowed:
            continue
        visible |= {
            t
            for t, c in stored.items()
            if c == category and (verdict.elements is None or element(t) in verdict.elements)
        }
    return frozenset(visible)


def label(visible: frozenset[str], stored: dict[str, str]) -> str:
    if not visible:
        return "no"
    return "ok" if visible == frozenset(stored) else "part"


# -- the matrix's rows, printed by the terminal summary -------------------------------------------------------

OPERATIONS = ("read", "search", "history", "create", "update", "rights", "archive")


@dataclass
class Cell:
    expected: str
    actual: str
    detail: str = ""

    @property
    def agrees(self) -> bool:
        return self.expected == self.actual

    @property
    def kind(self) -> str:
        """More reached than the text allows, less, or another difference (an error, other elements)."""
        order = {"no": 0, "part": 1, "ok": 2, "ok+": 3}
        expected, actual = order.get(self.expected), order.get(self.actual)
        if expected is None or actual is None or expected == actual:
            return "OTHER DIFFERENCE"
        return "UNEXPECTED ALLOW" if actual > expected else "UNEXPECTED REFUSAL"

    def __str__(self) -> str:
        return f"{self.expected}/{self.actual}" + ("" if self.agrees else "!")


Row = tuple[str, str, str, str]  # référentiel, profile, purpose (or a session label), resource variant
ROWS: dict[Row, dict[str, Cell]] = defaultdict(dict)


def record(row: Row, operation: str, cell: Cell) -> None:
    ROWS[row][operation] = cell


def mismatches(
    ref_id: str | None = None, profile: str | None = None, operation: str | None = None, exclude: str | None = None
) -> list[str]:
    found = []
    for (ref, prof, purpose, variant), cells in ROWS.items():
        if (ref_id and ref != ref_id) or (profile and prof != profile):
            continue
        for op, cell in cells.items():
            if (operation and op != operation) or op == exclude:
                continue
            if not cell.agrees:
                found.append(
                    f"{cell.kind}: {ref} {prof} {purpose} {variant} {op}: expected {cell.expected}, got {cell.actual}"
                    + (f" ({cell.detail})" if cell.detail else "")
                )
    return found


def table(*, full: bool = True) -> list[str]:
    """One line per référentiel × profile × purpose × resource; blocks where everything is refused as expected
    are folded into one line per référentiel × profile. Not ``full``: only the rows that disagree."""
    if not ROWS:
        return []
    lines = [
        "expected/actual per operation (ok: allowed, part: allowed with elements withheld, no: refused, "
        "-: not applicable; '!' marks a disagreement with the text)"
    ]
    width = [max(len(r[i]) for r in ROWS) for i in range(4)]

    def line(cells: list[str]) -> str:
        return " ".join(f"{c:<{w}}" for c, w in zip(cells, [*width, *[11] * len(OPERATIONS)], strict=True)).rstrip()

    lines.append(line(["référentiel", "profile", "purpose", "resource", *OPERATIONS]))
    folded: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_block: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in ROWS:
        by_block[row[:3]].append(row)
    for block, rows in by_block.items():
        cells = [c for r in rows for c in ROWS[r].values()]
        if all(c.expected == "no" and c.agrees for c in cells):
            folded[block[:2]].append(block[2])
            continue
        for r in rows:
            row_cells = ROWS[r]
            if not full and all(c.agrees for c in row_cells.values()):
                continue
            lines.append(line([*r, *(str(row_cells[op]) if op in row_cells else "-" for op in OPERATIONS)]))
    for (ref, prof), purposes in folded.items() if full else ():
        lines.append(line([ref, prof, "(all refused, as expected)", ", ".join(purposes), *[""] * len(OPERATIONS)]))
    total = sum(len(c) for c in ROWS.values())
    wrong = mismatches()
    allows = sum(1 for m in wrong if m.startswith("UNEXPECTED ALLOW"))
    refusals = sum(1 for m in wrong if m.startswith("UNEXPECTED REFUSAL"))
    lines.append(
        f"{total} cells, {len(wrong)} disagreements: {allows} unexpected allows, {refusals} unexpected refusals, "
        f"{len(wrong) - allows - refusals} other differences"
    )
    return lines
