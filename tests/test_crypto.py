"""Keys (COM-CRY-1): passphrase keystore, versioned data keys per family, AES-256-GCM bound to its place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from santegarde.crypto import (
    DecryptionRefused,
    KeyFamily,
    KeystoreError,
    ScryptParams,
    create_keyring,
    create_keystore,
    decrypt,
    encrypt,
    load_keyring,
    open_keystore,
)
from santegarde.crypto.keyring import KEYRING_NAME, PENDING_NAME, rotate_master_key

FAST = ScryptParams(n=2**10, r=8, p=1)  # tests only; production uses the defaults
PASS = "correct horse battery staple"


@pytest.fixture
def keydir(tmp_path: Path) -> Path:
    master = create_keystore(tmp_path / "keyring", PASS, FAST)
    create_keyring(master, tmp_path / "keyring")
    return tmp_path / "keyring"


def test_round_trip_per_family(keydir: Path) -> None:
    ring = load_keyring(open_keystore(keydir, PASS), keydir)
    for family in KeyFamily:
        token = encrypt(ring, family, b"Alix Fictif", record="Patient/1", field="name")
        assert b"Alix" not in token
        assert decrypt(ring, token, record="Patient/1", field="name") == b"Alix Fictif"


def test_families_have_distinct_keys(keydir: Path) -> None:
    ring = load_keyring(open_keystore(keydir, PASS), keydir)
    keys = {ring.key(family)[1] for family in KeyFamily}
    assert len(keys) == len(KeyFamily)


@pytest.mark.parametrize(("record", "field"), [("Patient/2", "name"), ("Patient/1", "birthDate")])
def test_value_moved_elsewhere_is_refused(keydir: Path, record: str, field: str) -> None:
    ring = load_keyring(open_keystore(keydir, PASS), keydir)
    token = encrypt(ring, KeyFamily.HEALTH, b"diabetes", record="Patient/1", field="name")
    with pytest.raises(DecryptionRefused, match="appartient à un autre endroit ou a été modifiée"):
        decrypt(ring, token, record=record, field=field)


def test_altered_token_is_refused(keydir: Path) -> None:
    ring = load_keyring(open_keystore(keydir, PASS), keydir)
    token = bytearray(encrypt(ring, KeyFamily.HEALTH, b"diabetes", record="r", field="f"))
    token[-1] ^= 1
    with pytest.raises(DecryptionRefused):
        decrypt(ring, bytes(token), record="r", field="f")


def test_data_key_rotation_keeps_old_values_readable(keydir: Path) -> None:
    ring = load_keyring(open_keystore(keydir, PASS), keydir)
    old = encrypt(ring, KeyFamily.HEALTH, b"v1", record="r", field="f")
    assert ring.rotate(KeyFamily.HEALTH) == 2
    ring.save(keydir)
    ring = load_keyring(open_keystore(keydir, PASS), keydir)
    new = encrypt(ring, KeyFamily.HEALTH, b"v2", record="r", field="f")
    assert decrypt(ring, old, record="r", field="f") == b"v1"
    assert decrypt(ring, new, record="r", field="f") == b"v2"
    assert new[4:8] != old[4:8]  # the token names its key version


def test_master_rotation_rewraps_without_loss(keydir: Path) -> None:
    ring = load_keyring(open_keystore(keydir, PASS), keydir)
    token = encrypt(ring, KeyFamily.IDENTITY, b"Alix", record="r", field="f")
    rotate_master_key(keydir, PASS, "a whole new passphrase here", FAST)
    with pytest.raises(KeystoreError, match="phrase de passe du magasin de clés est erronée") as wrong:
        open_keystore(keydir, PASS)
    assert wrong.value.in_language("en") == "The keystore passphrase is wrong: check it and try again."
    ring = load_keyring(open_keystore(keydir, "a whole new passphrase here"), keydir)
    assert decrypt(ring, token, record="r", field="f") == b"Alix"


def test_interrupted_master_rotation_is_completed(keydir: Path) -> None:
    ring = load_keyring(open_keystore(keydir, PASS), keydir)
    token = encrypt(ring, KeyFamily.HEALTH, b"x", record="r", field="f")
    rotate_master_key(keydir, PASS, "a whole new passphrase here", FAST)
    # Simulate a crash after the keystore was written but before the keyring swap.
    (keydir / PENDING_NAME).write_text((keydir / KEYRING_NAME).read_text())
    stale = json.loads((keydir / KEYRING_NAME).read_text())
    stale["master_key_id"] = "old"
    (keydir / KEYRING_NAME).write_text(json.dumps(stale))
    ring = load_keyring(open_keystore(keydir, "a whole new passphrase here"), keydir)
    assert decrypt(ring, token, record="r", field="f") == b"x"


@pytest.mark.parametrize(
    ("passphrase", "message"),
    [("", "Aucune phrase de passe"), ("changeme", "valeur d'exemple"), ("short one", "il en faut au moins 12")],
)
def test_placeholder_or_weak_passphrase_refused(tmp_path: Path, passphrase: str, message: str) -> None:
    with pytest.raises(KeystoreError, match=message):
        create_keystore(tmp_path, passphrase, FAST)


def test_no_keystore_refuses_to_run(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="refuse de fonctionner sans clés"):
        open_keystore(tmp_path, PASS)


def test_keystore_and_keyring_never_hold_keys_in_clear(keydir: Path) -> None:
    ring = load_keyring(open_keystore(keydir, PASS), keydir)
    stored = (keydir / KEYRING_NAME).read_bytes() + (keydir / "keystore.json").read_bytes()
    import base64

    for family in KeyFamily:
        assert base64.b64encode(ring.key(family)[1]) not in stored
    assert (keydir / KEYRING_NAME).stat().st_mode & 0o777 == 0o600


def test_keystore_is_never_overwritten(keydir: Path) -> None:
    with pytest.raises(KeystoreError, match="n'est jamais écrasé"):
        create_keystore(keydir, PASS, FAST)
