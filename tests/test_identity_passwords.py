"""Password strength (CNIL deliberation 2022-100, computed entropy) and argon2id hashing."""

from __future__ import annotations

import math
from typing import Literal

import pytest
from argon2 import PasswordHasher, Type

from santegarde.errors import SantegardeError
from santegarde.identity.hashing import FAST_TEST_PARAMS, HashParams, PasswordHashing, Verification
from santegarde.identity.passwords import (
    WORDLIST_SIZE,
    Strength,
    WeakPassword,
    require_strong,
    required_bits,
    strength,
)

TWELVE_FOUR_CLASSES = "Kx7!mQ2#vRt9"
ELEVEN_FOUR_CLASSES = "Kx7!mQ2#vRt"
FOURTEEN_NO_SPECIAL = "Kx7mQ2vRt9bLw4"
SEVEN_WORDS = "cheval correct agrafe lune verte bateau piano"
SIX_WORDS = "cheval correct agrafe lune verte bateau"


# --- requirements ---------------------------------------------------------------------------------


def test_required_bits_follow_the_cnil() -> None:
    assert required_bits(attempts_limited=False) == 80
    assert required_bits(attempts_limited=True) == 50


# --- the CNIL examples, computed -------------------------------------------------------------------


def test_twelve_characters_of_four_classes_round_up_to_80_and_pass() -> None:
    result = strength(TWELVE_FOUR_CLASSES, attempts_limited=False)
    assert result.method == "characters"
    assert result.bits == pytest.approx(12 * math.log2(99))
    assert result.bits < 80  # 79.6: the CNIL rounds
    assert result.ok


def test_eleven_characters_of_four_classes_fail_80() -> None:
    result = strength(ELEVEN_FOUR_CLASSES, attempts_limited=False)
    assert round(result.bits) == 73
    assert not result.ok


def test_fourteen_characters_without_specials_pass_80() -> None:
    result = strength(FOURTEEN_NO_SPECIAL, attempts_limited=False)
    assert result.bits == pytest.approx(14 * math.log2(62))
    assert result.ok


def test_seven_word_passphrase_passes_80() -> None:
    result = strength(SEVEN_WORDS, attempts_limited=False)
    assert result.method == "passphrase"
    assert result.bits == pytest.approx(7 * math.log2(WORDLIST_SIZE))
    assert result.ok


def test_six_word_passphrase_fails_80() -> None:
    result = strength(SIX_WORDS, attempts_limited=False)
    assert result.method == "passphrase"
    assert not result.ok


@pytest.mark.parametrize("separator", [" ", "-", ".", "_"])
def test_passphrase_separators(separator: str) -> None:
    result = strength(separator.join(SEVEN_WORDS.split()), attempts_limited=False)
    assert result.method == "passphrase"
    assert result.ok


def test_passphrase_with_accented_words_is_a_passphrase() -> None:
    result = strength("été forêt château écureuil lièvre rivière îlot", attempts_limited=False)
    assert result.method == "passphrase"
    assert result.ok


def test_one_letter_words_are_not_credited_as_a_passphrase() -> None:
    result = strength("a b c d e f g", attempts_limited=False)
    assert result.method == "characters"
    assert not result.ok


def test_eight_characters_of_three_classes_pass_50_but_fail_80() -> None:
    password = "Kx!mQ#vR"  # lower, upper, special: 8 × log2(89) ≈ 51.8
    assert strength(password, attempts_limited=True).ok
    assert not strength(password, attempts_limited=False).ok


def test_eight_characters_lower_upper_digit_fall_short_of_50() -> None:
    # 8 × log2(62) ≈ 47.6: with the CNIL's class sizes, three classes without specials need 9 characters.
    result = strength("Kx7mQ2vR", attempts_limited=True)
    assert round(result.bits) == 48
    assert not result.ok


def test_non_ascii_letters_count_in_their_case_class() -> None:
    assert strength("éèàçù", attempts_limited=True).bits == pytest.approx(5 * math.log2(26))
    assert strength("ÉÈÀÇÙé", attempts_limited=True).bits == pytest.approx(6 * math.log2(52))


def test_other_non_alphanumerics_count_as_special() -> None:
    assert strength("kx€mq§", attempts_limited=True).bits == pytest.approx(6 * math.log2(26 + 37))


def test_empty_password_has_no_entropy() -> None:
    result = strength("", attempts_limited=True)
    assert result.bits == 0
    assert not result.ok


# --- penalties -------------------------------------------------------------------------------------


def _assert_penalised(result: Strength, fragment: str) -> None:
    assert result.bits == 0
    assert not result.ok
    assert any(fragment in problem for problem in result.problems)


def test_containing_the_login_is_penalised() -> None:
    result = strength("Kx7!jdupont#vRt9Lm", attempts_limited=False, context=["jdupont"])
    _assert_penalised(result, "login")


def test_context_is_case_and_accent_insensitive_and_split_into_parts() -> None:
    result = strength("Kx7!HELENE#vRt9Lm", attempts_limited=False, context=["hélène.fictive@example.test"])
    _assert_penalised(result, "login")


def test_short_context_strings_are_ignored() -> None:
    result = strength(TWELVE_FOUR_CLASSES, attempts_limited=False, context=["Kx", "7!"])
    assert result.ok


def test_a_run_of_four_identical_characters_is_penalised() -> None:
    _assert_penalised(strength("Kx7!mQqqqq2#vRt9", attempts_limited=False), "same character")


def test_a_run_of_three_identical_characters_is_allowed() -> None:
    assert strength("Kx7!mQqqq2#vRt9", attempts_limited=False).ok


@pytest.mark.parametrize("password", ["Ab1!Ab1!Ab1!Ab1!", "xyzxyzxyzxyzxyzxy", "chat chat chat chat chat chat chat"])
def test_a_repeated_pattern_is_penalised(password: str) -> None:
    _assert_penalised(strength(password, attempts_limited=True), "pattern")


@pytest.mark.parametrize("password", ["motdepasse", "AZERTY", "Password2024!", "soleil123", "123456", "Bonjour!!"])
def test_common_passwords_are_penalised(password: str) -> None:
    _assert_penalised(strength(password, attempts_limited=True), "common")


# --- refusal ---------------------------------------------------------------------------------------


def test_require_strong_returns_the_strength_when_enough() -> None:
    assert require_strong(TWELVE_FOUR_CLASSES, attempts_limited=False).ok


def test_require_strong_refuses_with_bits_needed_and_advice() -> None:
    with pytest.raises(WeakPassword) as caught:
        require_strong("Kx7mQ2vR", attempts_limited=False)
    message = str(caught.value)
    assert message.startswith("This password has about 48 bits of entropy; at least 80 are needed.")
    assert "12 characters" in message and "14 without special characters" in message and "7 words" in message
    assert "Kx7mQ2vR" not in message
    assert caught.value.strength.required == 80
    assert isinstance(caught.value, SantegardeError) and isinstance(caught.value, ValueError)


def test_require_strong_advice_for_50_bits_is_computed() -> None:
    with pytest.raises(WeakPassword) as caught:
        require_strong("Kx7!mQ", attempts_limited=True)
    message = str(caught.value)
    assert "at least 50 are needed" in message
    assert "8 characters" in message and "9 without special characters" in message and "5 words" in message


def test_refusal_states_the_problem_without_quoting_password_or_context() -> None:
    with pytest.raises(WeakPassword) as caught:
        require_strong("Kx7!jdupont#vRt9Lm", attempts_limited=False, context=["jdupont"])
    message = str(caught.value)
    assert "about 0 bits" in message and "login" in message
    assert "jdupont" not in message and "Kx7!" not in message


# --- hashing ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hashing() -> PasswordHashing:
    return PasswordHashing(FAST_TEST_PARAMS)


def test_default_params_are_rfc_9106_second_option() -> None:
    assert HashParams() == HashParams(time_cost=3, memory_cost_kib=65_536, parallelism=4)


def test_hash_round_trip(hashing: PasswordHashing) -> None:
    stored = hashing.hash("Fictif-Mot-De-Passe-42")
    assert stored.startswith("$argon2id$")
    assert "Fictif" not in stored
    assert hashing.verify(stored, "Fictif-Mot-De-Passe-42") == Verification(ok=True, needs_rehash=False)


def test_hashes_are_salted(hashing: PasswordHashing) -> None:
    assert hashing.hash("Fictif-42") != hashing.hash("Fictif-42")


def test_wrong_password_is_refused(hashing: PasswordHashing) -> None:
    stored = hashing.hash("Fictif-Mot-De-Passe-42")
    assert hashing.verify(stored, "Fictif-Mot-De-Passe-43") == Verification(ok=False, needs_rehash=False)


def test_hash_with_other_params_verifies_and_asks_for_rehash(hashing: PasswordHashing) -> None:
    older = PasswordHashing(HashParams(time_cost=2, memory_cost_kib=2048, parallelism=1))
    stored = older.hash("Fictif-42")
    assert hashing.verify(stored, "Fictif-42") == Verification(ok=True, needs_rehash=True)
    assert hashing.verify(stored, "Fictif-43") == Verification(ok=False, needs_rehash=False)


def test_argon2i_hash_verifies_and_asks_for_rehash(hashing: PasswordHashing) -> None:
    stored = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.I).hash("Fictif-42")
    assert hashing.verify(stored, "Fictif-42") == Verification(ok=True, needs_rehash=True)


@pytest.fixture
def verify_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Wrap PasswordHasher.verify; the list collects the hashes it was asked to check."""
    hashes: list[str] = []
    original = PasswordHasher.verify

    def spy(hasher: PasswordHasher, stored: str | bytes, password: str | bytes) -> Literal[True]:
        hashes.append(str(stored))
        return original(hasher, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    return hashes


def test_unknown_login_is_refused_after_dummy_verification(hashing: PasswordHashing, verify_spy: list[str]) -> None:
    assert hashing.verify(None, "Fictif-42") == Verification(ok=False, needs_rehash=False)
    assert len(verify_spy) == 1
    dummy = verify_spy[0]
    assert dummy.startswith("$argon2id$v=19$m=1024,t=1,p=1$")


def test_dummy_hash_uses_the_configured_params(verify_spy: list[str]) -> None:
    PasswordHashing(HashParams(time_cost=2, memory_cost_kib=2048, parallelism=2)).verify(None, "Fictif-42")
    assert verify_spy[0].startswith("$argon2id$v=19$m=2048,t=2,p=2$")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$argon2id$garbage",
        "$argon2id$v=19$m=1024,t=1,p=1$!!!$!!!",
        "$argon2id$v=19$m=x,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA€",
        "$bcrypt$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
    ],
)
def test_corrupt_stored_hash_is_refused_without_exception(
    hashing: PasswordHashing, verify_spy: list[str], stored: str
) -> None:
    assert hashing.verify(stored, "Fictif-42") == Verification(ok=False, needs_rehash=False)
    assert verify_spy  # the same work was spent


def test_truncated_stored_hash_is_refused(hashing: PasswordHashing) -> None:
    stored = hashing.hash("Fictif-42")
    assert not hashing.verify(stored[:-6], "Fictif-42").ok


def test_stored_hash_with_oversized_costs_is_refused_without_running_it(
    hashing: PasswordHashing, verify_spy: list[str]
) -> None:
    stored = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhcw"
    assert hashing.verify(stored, "Fictif-42") == Verification(ok=False, needs_rehash=False)
    assert stored not in verify_spy
