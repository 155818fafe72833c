"""Truth tables for French identifiers.

Every expected value below was computed by hand (arithmetic in the comments), not with the code
under test. NIR key = 97 − (n mod 97), n = the first 13 characters with 2A → 19 and 2B → 18.
Luhn: from the right, double every second digit (subtract 9 above 9); the sum must end in 0.
"""

from __future__ import annotations

import pytest

from santegarde import identifiers as ids
from santegarde.identifiers import InvalidIdentifier, UnknownIdentifierSystem

# --- NIR / INS ---------------------------------------------------------------------------------

VALID_NIRS = [
    # 1841275123456 = 97 × 18981186839 + 57 → key 97 − 57 = 40
    "184127512345640",
    # 2951099126111 mod 97 = 4 → key 93 (also stdnum's doctest)
    "295109912611193",
    # Corsica 2A: n = 2530719073004 (2A → 19), mod 97 = 54 → key 43
    "253072A07300443",
    # Corsica 2B: n = 2530718073004 (2B → 18), mod 97 = 27 → key 70
    "253072B07300470",
    # special month 30 (unknown month): 1603013055001 mod 97 = 50 → key 47
    "160301305500147",
    # temporary number (sex 7), born abroad (99): 7850199123042 mod 97 = 40 → key 57
    "785019912304257",
    # 2011135001001 mod 97 = 76 → key 21
    "201113500100121",
    # n divisible by 97: 1841275123011 = 97 × 18981186835 + 0 → key 97
    "184127512301197",
]


@pytest.mark.parametrize("value", VALID_NIRS)
def test_valid_nir(value: str) -> None:
    assert ids.validate_nir(value) == value
    assert ids.validate_ins(value) == value


def test_nir_accepts_spaces_and_lower_case_corsica() -> None:
    assert ids.validate_nir("2 53 07 2a 073 004 43") == "253072A07300443"


INVALID_NIRS = [
    ("184127512345641", "key"),  # key off by one (40 expected)
    ("184127512345604", "key"),  # key digits swapped
    ("284127512345640", "key"),  # sex changed, key of the male number kept
    ("253072A07300470", "key"),  # 2A with the 2B key (43 expected)
    ("253072B07300443", "key"),  # 2B with the 2A key (70 expected)
    ("2530719073004", "15 characters"),  # no key (13)
    ("18412751234564", "15 characters"),  # 14 characters
    ("1841275123456400", "15 characters"),  # 16 characters
    ("", "15 characters"),
    ("584127512345634", "sex"),  # sex 5: key 34 is right for 5841275123456, shape is not
    ("184137512345656", "month"),  # month 13 (key 56 right)
    ("184437512345651", "month"),  # month 43 (key 51 right)
    ("184120012345628", "department"),  # department 00 (key 28 right)
    ("253072C07300443", "department"),  # 2C does not exist
    ("18412751234A640", "commune"),  # letter in the order number
    ("1841275123456AB", "key"),  # letters in the key
]


@pytest.mark.parametrize(("value", "reason"), INVALID_NIRS)
def test_invalid_nir(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        ids.validate_nir(value)
    assert excinfo.value.kind == "NIR"
    assert reason in str(excinfo.value)
    if len(value) >= 5:
        assert value not in str(excinfo.value)  # never echo the identifier


def test_invalid_nir_message_gives_length_not_value() -> None:
    with pytest.raises(InvalidIdentifier, match="this value has 14 characters"):
        ids.validate_nir("18412751234564")


def test_ins_kind_is_reported() -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        ids.validate_ins("184127512345641")
    assert excinfo.value.kind == "INS"
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    ("body", "key"),
    [("1841275123456", "40"), ("253072A073004", "43"), ("253072B073004", "70"), ("1841275123011", "97")],
)
def test_compute_nir_key(body: str, key: str) -> None:
    assert ids.compute_nir_key(body) == key


def test_make_and_parse_nir() -> None:
    value = ids.make_nir(male=False, year=1953, month=7, department="2A", commune=73, order=4)
    assert value == "253072A07300443"
    parts = ids.parse_nir(value)
    assert (parts.sex, parts.year, parts.month, parts.department, parts.commune, parts.order, parts.key) == (
        "2",
        "53",
        "07",
        "2A",
        "073",
        "004",
        "43",
    )
    assert not parts.is_male
    assert str(parts) == value


# --- RPPS / ADELI / idNatPs ---------------------------------------------------------------------

# 10000000009: from the right 9 (kept), 0 ×9, the 1 at offset 10 kept → 1 + 9 = 10 ✓
# 81000123455: 5 + (5×2=10→1) + 4 + (3×2=6) + 2 + (1×2=2) + 0 + 0 + 0 + (1×2=2) + 8 = 30 ✓
VALID_RPPS = ["10000000009", "81000123455"]
INVALID_RPPS = [
    ("10000000008", "Luhn"),  # check digit off by one
    ("81000123465", "Luhn"),  # one body digit changed
    ("1000000009", "11 digits"),  # 10 digits
    ("100000000090", "11 digits"),  # 12 digits
    ("1000000000A", "non-digit"),
]


@pytest.mark.parametrize("value", VALID_RPPS)
def test_valid_rpps(value: str) -> None:
    assert ids.validate_rpps(value) == value
    assert ids.compute_rpps_key(value[:10]) == value[10]


@pytest.mark.parametrize(("value", "reason"), INVALID_RPPS)
def test_invalid_rpps(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason) as excinfo:
        ids.validate_rpps(value)
    assert excinfo.value.kind == "RPPS"
    assert value not in str(excinfo.value)


@pytest.mark.parametrize("value", ["751012345", "2A6012345", "130700018"])
def test_valid_adeli_shape(value: str) -> None:
    assert ids.validate_adeli(value) == value


@pytest.mark.parametrize("value", ["75101234", "7510123456", "75101234X", "2C6012345", "A75101234"])
def test_invalid_adeli(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="9 characters") as excinfo:
        ids.validate_adeli(value)
    assert excinfo.value.kind == "ADELI"


@pytest.mark.parametrize(
    ("value", "register", "number"),
    [
        ("810000000009", "RPPS", "10000000009"),
        ("881000123455", "RPPS", "81000123455"),
        ("0751012345", "ADELI", "751012345"),
    ],
)
def test_parse_idnatps(value: str, register: str, number: str) -> None:
    parsed = ids.parse_idnatps(value)
    assert (parsed.register, parsed.number) == (register, number)
    assert str(parsed) == value == ids.validate_idnatps(value)
    assert ids.make_idnatps(parsed.register, number) == value


@pytest.mark.parametrize(
    "value",
    [
        "810000000008",  # RPPS with a wrong Luhn digit
        "10000000009",  # RPPS without the prefix
        "910000000009",  # unknown prefix
        "075101234",  # "0" + 8 characters
        "8751012345",  # "8" + an ADELI-sized number
        "0",
    ],
)
def test_invalid_idnatps(value: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        ids.validate_idnatps(value)
    assert excinfo.value.kind == "idNatPs"


# --- FINESS / idNatSt / SIREN / SIRET -------------------------------------------------------------

# 750712184: 4 + (8×2=16→7) + 1 + (2×2=4) + 1 + (7×2=14→5) + 0 + (5×2=10→1) + 7 = 30 ✓
# 2A0000014 (Luhn on the digits 20000014): 4 + (1×2=2) + 0… + (2×2=4) = 10 ✓
VALID_FINESS = ["750712184", "2A0000014", "2B0000014", "130786049"]
INVALID_FINESS = [
    ("750712185", "Luhn"),  # key off by one
    ("750712174", "Luhn"),  # body digit off by one
    ("2A0000015", "Luhn"),
    ("75071218", "9 characters"),
    ("7507121840", "9 characters"),
    ("2C0000014", "other characters"),
    ("75071218A", "other characters"),
]


@pytest.mark.parametrize("value", VALID_FINESS)
def test_valid_finess(value: str) -> None:
    assert ids.validate_finess(value) == value
    assert ids.compute_finess_key(value[:8]) == value[8]
    assert ids.validate_idnatst("1" + value) == "1" + value


@pytest.mark.parametrize(("value", "reason"), INVALID_FINESS)
def test_invalid_finess(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason) as excinfo:
        ids.validate_finess(value)
    assert excinfo.value.kind == "FINESS"


@pytest.mark.parametrize("value", ["1750712185", "750712184", "2750712184", "17507121840"])
def test_invalid_idnatst(value: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        ids.validate_idnatst(value)
    assert excinfo.value.kind == "idNatSt"


# 404833048: 8 + (4×2=8) + 0 + (3×2=6) + 3 + (8×2=16→7) + 4 + (0×2) + 4 = 40 ✓
@pytest.mark.parametrize("value", ["404833048", "732829320", "552008443", "356000000"])
def test_valid_siren(value: str) -> None:
    assert ids.validate_siren(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [("404833047", "check digit"), ("404833058", "check digit"), ("40483304", "9 digits"), ("40483304A", "non-digit")],
)
def test_invalid_siren(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason) as excinfo:
        ids.validate_siren(value)
    assert excinfo.value.kind == "SIREN"


@pytest.mark.parametrize(
    "value",
    [
        "73282932000074",  # Luhn
        "35600000000048",  # La Poste head office (Luhn)
        "35600000000010",  # La Poste establishment: not Luhn, digit sum 3+5+6+1 = 15, a multiple of 5
    ],
)
def test_valid_siret(value: str) -> None:
    assert ids.validate_siret(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("73282932000075", "check digit"),  # Luhn off by one
        ("35600000000011", "check digit"),  # La Poste: digit sum 16
        ("7328293200007", "14 digits"),
        ("7328293200007X", "non-digit"),
    ],
)
def test_invalid_siret(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason) as excinfo:
        ids.validate_siret(value)
    assert excinfo.value.kind == "SIRET"


def test_make_helpers() -> None:
    assert ids.make_rpps("8100012345") == "81000123455"
    assert ids.make_finess("75071218") == "750712184"
    assert ids.make_siren("40483304") == "404833048"
    assert ids.make_siret("732829320", "0007") == "73282932000074"


# --- systems ------------------------------------------------------------------------------------


def test_system_uris_match_architecture() -> None:
    assert ids.INS_NIR_SYSTEM == "urn:oid:1.2.250.1.213.1.4.8"
    assert ids.INS_NIA_SYSTEM == "urn:oid:1.2.250.1.213.1.4.9"
    assert ids.INS_TEST_SYSTEM == "urn:oid:1.2.250.1.213.1.4.10"
    assert ids.INS_DEMO_SYSTEM == "urn:oid:1.2.250.1.213.1.4.11"
    assert ids.NIR_SYSTEM == ids.INS_NIR_SYSTEM
    assert ids.IDNATPS_SYSTEM == "urn:oid:1.2.250.1.71.4.2.1"
    assert ids.RPPS_SYSTEM == "https://rpps.esante.gouv.fr"
    assert ids.IDNATST_SYSTEM == "urn:oid:1.2.250.1.71.4.2.2"
    assert ids.FINESS_SYSTEM == "https://finess.esante.gouv.fr"
    assert ids.SIRENE_SYSTEM == "https://sirene.fr"


@pytest.mark.parametrize(
    ("ins_type", "system"),
    [
        ("NIR", "urn:oid:1.2.250.1.213.1.4.8"),
        ("INS-NIA", "urn:oid:1.2.250.1.213.1.4.9"),
        ("test", "urn:oid:1.2.250.1.213.1.4.10"),
        ("DEMO", "urn:oid:1.2.250.1.213.1.4.11"),
    ],
)
def test_ins_system(ins_type: str, system: str) -> None:
    assert ids.ins_system(ins_type) == system


def test_ins_system_unknown() -> None:
    with pytest.raises(ValueError, match="NIR, NIA, TEST, DEMO"):
        ids.ins_system("INS-C")


@pytest.mark.parametrize(
    ("system", "value"),
    [
        ("urn:oid:1.2.250.1.213.1.4.8", "184127512345640"),
        ("urn:oid:1.2.250.1.213.1.4.9", "785019912304257"),
        ("urn:oid:1.2.250.1.213.1.4.10", "253072A07300443"),
        ("urn:oid:1.2.250.1.213.1.4.11", "253072B07300470"),
        ("urn:oid:1.2.250.1.71.4.2.1", "810000000009"),
        ("urn:oid:1.2.250.1.71.4.2.1", "0751012345"),
        ("https://rpps.esante.gouv.fr", "10000000009"),
        ("urn:oid:1.2.250.1.71.4.2.2", "1750712184"),
        ("https://finess.esante.gouv.fr", "750712184"),
        ("https://sirene.fr", "404833048"),
        ("https://sirene.fr", "73282932000074"),
    ],
)
def test_validate_dispatch_valid(system: str, value: str) -> None:
    assert ids.validate(system, value) == value
    assert system in ids.KNOWN_SYSTEMS


@pytest.mark.parametrize(
    ("system", "value", "kind"),
    [
        ("urn:oid:1.2.250.1.213.1.4.8", "184127512345641", "INS-NIR"),
        ("urn:oid:1.2.250.1.213.1.4.10", "253072A07300470", "INS (test)"),
        ("urn:oid:1.2.250.1.71.4.2.1", "810000000008", "idNatPs"),
        ("https://rpps.esante.gouv.fr", "10000000008", "RPPS"),
        ("urn:oid:1.2.250.1.71.4.2.2", "750712184", "idNatSt"),
        ("https://finess.esante.gouv.fr", "750712185", "FINESS"),
        ("https://sirene.fr", "404833047", "SIREN"),
        ("https://sirene.fr", "73282932000075", "SIRET"),
        ("https://sirene.fr", "4048330", "SIREN/SIRET"),
    ],
)
def test_validate_dispatch_invalid(system: str, value: str, kind: str) -> None:
    with pytest.raises(InvalidIdentifier) as excinfo:
        ids.validate(system, value)
    assert excinfo.value.kind == kind


def test_validate_unknown_system() -> None:
    with pytest.raises(UnknownIdentifierSystem):
        ids.validate("urn:oid:1.2.3", "x")
