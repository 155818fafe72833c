"""Second factor: TOTP verification with drift and replay, enrolment, and single-use recovery codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from santegarde.errors import SantegardeError
from santegarde.identity import totp
from santegarde.identity.totp import InvalidCode

AT = datetime(2024, 3, 14, 9, 26, 45, tzinfo=UTC)  # fixed instant: no dependence on the wall clock
STEP = int(AT.timestamp()) // 30
ACCOUNT = "camille.durand@clinique-fictive.example"


@pytest.fixture
def secret() -> str:
    return "JBSWY3DPEHPK3PXPGEZDGNBVGY3TQOJQ"  # fixed fictitious secret: the tests are deterministic


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).at(step * 30)


def test_new_secret_is_32_base32_characters() -> None:
    secret = totp.new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert secret != totp.new_secret()


def test_valid_code_returns_its_step(secret: str) -> None:
    code = pyotp.TOTP(secret).at(AT)
    assert totp.verify(secret, code, last_step=None, at=AT) == STEP


def test_code_with_spaces_is_accepted(secret: str) -> None:
    code = code_at(secret, STEP)
    assert totp.verify(secret, f" {code[:3]} {code[3:]} ", last_step=None, at=AT) == STEP


@pytest.mark.parametrize("offset", [-1, 1])
def test_adjacent_step_is_accepted_for_clock_drift(secret: str, offset: int) -> None:
    assert totp.verify(secret, code_at(secret, STEP + offset), last_step=None, at=AT) == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_code_two_steps_away_is_refused(secret: str, offset: int) -> None:
    code = code_at(secret, STEP + offset)
    assert code not in {code_at(secret, STEP + d) for d in (-1, 0, 1)}
    with pytest.raises(InvalidCode) as caught:
        totp.verify(secret, code, last_step=None, at=AT)
    assert caught.value.reason == "invalid"


def test_wider_window_accepts_two_steps(secret: str) -> None:
    assert totp.verify(secret, code_at(secret, STEP - 2), last_step=None, at=AT, window=2) == STEP - 2


def test_wrong_code_is_refused(secret: str) -> None:
    valid = {code_at(secret, STEP + d) for d in (-1, 0, 1)}
    wrong = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)
    with pytest.raises(InvalidCode, match="6-digit code"):
        totp.verify(secret, wrong, last_step=None, at=AT)


def test_replay_of_the_same_step_is_refused(secret: str) -> None:
    code = code_at(secret, STEP)
    step = totp.verify(secret, code, last_step=None, at=AT)
    with pytest.raises(InvalidCode, match="already used") as caught:
        totp.verify(secret, code, last_step=step, at=AT + timedelta(seconds=5))
    assert caught.value.reason == "replayed"


def test_older_step_than_last_is_refused(secret: str) -> None:
    with pytest.raises(InvalidCode, match="already used"):
        totp.verify(secret, code_at(secret, STEP - 1), last_step=STEP, at=AT)


def test_next_step_after_last_is_accepted(secret: str) -> None:
    later = AT + timedelta(seconds=30)
    assert totp.verify(secret, code_at(secret, STEP + 1), last_step=STEP, at=later) == STEP + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "123-456"])
def test_malformed_code_is_refused(secret: str, code: str) -> None:
    with pytest.raises(InvalidCode) as caught:
        totp.verify(secret, code, last_step=None, at=AT)
    assert caught.value.reason == "invalid"


def test_invalid_code_is_a_santegarde_and_value_error() -> None:
    error = InvalidCode("invalid")
    assert isinstance(error, SantegardeError)
    assert isinstance(error, ValueError)
    assert str(error) == "The code is not valid: type the 6-digit code your authenticator app shows now."


def test_verify_without_time_uses_now(secret: str) -> None:
    now = datetime.now(UTC)
    step = totp.verify(secret, pyotp.TOTP(secret).now(), last_step=None)
    assert abs(step - int(now.timestamp()) // 30) <= 1


def test_provisioning_uri_names_issuer_account_and_secret(secret: str) -> None:
    uri = totp.provisioning_uri(secret, ACCOUNT, issuer="Clinique Fictive")
    assert uri.startswith("otpauth://totp/")
    assert f"secret={secret}" in uri
    assert "issuer=Clinique%20Fictive" in uri


def test_qr_svg_is_an_svg_document() -> None:
    svg = totp.qr_svg("otpauth://totp/santegarde:test?secret=JBSWY3DPEHPK3PXP&issuer=santegarde")
    assert svg.startswith("<svg")
    assert "</svg>" in svg


@pytest.mark.parametrize("invert", [False, True])
def test_qr_text_is_block_characters(invert: bool) -> None:
    text = totp.qr_text("otpauth://totp/santegarde:test?secret=JBSWY3DPEHPK3PXP", invert=invert)
    lines = text.splitlines()
    assert len(lines) > 10
    assert set(text) <= {" ", "\n", "█", "▀", "▄"}


def test_start_enrolment_gives_secret_uri_and_svg() -> None:
    enrolment = totp.start_enrolment(ACCOUNT)
    assert "<svg" in enrolment.qr_svg
    assert "issuer=santegarde" in enrolment.uri
    assert f"secret={enrolment.secret}" in enrolment.uri
    assert enrolment.secret not in repr(enrolment)


def test_confirm_enrolment_accepts_a_current_code() -> None:
    enrolment = totp.start_enrolment(ACCOUNT)
    code = pyotp.TOTP(enrolment.secret).at(AT)
    assert totp.confirm_enrolment(enrolment.secret, code, at=AT) == STEP


def test_confirm_enrolment_refuses_a_wrong_code() -> None:
    enrolment = totp.start_enrolment(ACCOUNT)
    with pytest.raises(InvalidCode):
        totp.confirm_enrolment(enrolment.secret, "abcdef", at=AT)


def test_recovery_codes_are_unique_and_formatted() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{5}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{5}", code)
    assert len(totp.new_recovery_codes(3)) == 3


def test_recovery_code_hash_is_sha256_hex_and_hides_the_code() -> None:
    code = totp.new_recovery_codes(1)[0]
    digest = totp.hash_recovery_code(code)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert code.replace("-", "") not in digest


def test_recovery_code_is_single_use() -> None:
    codes = totp.new_recovery_codes()
    hashes = [totp.hash_recovery_code(c) for c in codes]
    index = totp.use_recovery_code(codes[3], hashes)
    assert index == 3
    del hashes[index]
    with pytest.raises(InvalidCode, match="not valid or was already used") as caught:
        totp.use_recovery_code(codes[3], hashes)
    assert caught.value.reason == "recovery"
    assert totp.use_recovery_code(codes[4], hashes) == 3


def test_recovery_code_normalisation() -> None:
    codes = totp.new_recovery_codes(2)
    hashes = [totp.hash_recovery_code(c) for c in codes]
    assert totp.use_recovery_code(codes[1].lower(), hashes) == 1
    assert totp.use_recovery_code(codes[1].replace("-", ""), hashes) == 1
    assert totp.use_recovery_code(f" {codes[1][:5]} {codes[1][6:]} ".lower(), hashes) == 1


@pytest.mark.parametrize("typed", ["", "ABCDE-FGHJK", "not a code", "é"])
def test_unknown_recovery_code_is_refused(typed: str) -> None:
    hashes = [totp.hash_recovery_code(c) for c in ["22222-33333", "44444-55555"]]
    with pytest.raises(InvalidCode, match="recovery code"):
        totp.use_recovery_code(typed, hashes)


def test_recovery_code_refused_when_no_hashes_left() -> None:
    with pytest.raises(InvalidCode):
        totp.use_recovery_code("22222-33333", [])
