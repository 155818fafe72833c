"""Secure exchange (COM-EXC-1): sealed envelopes, secrets by another channel, verified recipients."""

from __future__ import annotations

import json
import re
import stat
import struct
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from init_answers import init_answers
from santegarde.atomic import AlreadyExists, write_new_bytes
from santegarde.audit.tables import entry
from santegarde.cli.main import app
from santegarde.crypto.exchange import (
    ALPHABET,
    ExchangeError,
    Recipient,
    _envelope,
    _payload,
    check_recipient,
    normalise_secret,
    open_envelope,
    parse_recipient,
    read_header,
    seal,
)
from santegarde.identifiers import make_rpps
from santegarde.runtime import open_organisation

PASS = "a long enough test passphrase"
RPPS = make_rpps("1000000000")
MSS = "jean.dupont@medecin.mssante.fr"
DOC = b"%PDF-1.4 compte rendu fictif: patient test, glycemie 1.02 g/L"
SECRET_RE = re.compile(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){4}")
NAME = "compte-rendu-DUPONT-Marie.pdf"
CLEAR_HEADER = {"version", "recipient", "nonce", "kdf", "key_check", "created_at"}


@pytest.fixture(scope="module")
def sealed() -> tuple[bytes, str]:
    return seal(DOC, Recipient("rpps", RPPS), filename=NAME)


@pytest.fixture
def org(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "org"
    result = runner.invoke(
        app,
        [
            "init",
            "--profile",
            "practice",
            "--dir",
            str(directory),
            "--name",
            "Cabinet Test",
            "--set",
            "retention_end_action=delete",
            *init_answers("practice"),
        ],
    )
    assert result.exit_code == 0, result.output
    config = directory / "santegarde.yaml"
    assert runner.invoke(app, ["keys", "init", "--config", str(config)]).exit_code == 0
    return config


def _audit_contents(config: Path) -> list[dict[str, object]]:
    org = open_organisation(config, PASS)
    try:
        with org.audit.engine.connect() as conn:
            return [json.loads(row.content) for row in conn.execute(select(entry.c.content).order_by(entry.c.seq))]
    finally:
        org.close()


# --- recipients -------------------------------------------------------------------------------------------


def test_recipients_accepted() -> None:
    assert parse_recipient(f" {RPPS} ") == Recipient("rpps", RPPS)
    assert parse_recipient("Jean.Dupont@Medecin.MSSante.fr") == Recipient("mssante", MSS)
    assert parse_recipient("cabinet@pro.mssante.fr") == Recipient("mssante", "cabinet@pro.mssante.fr")


@pytest.mark.parametrize(
    "text",
    [
        "jean.dupont@gmail.com",
        "jean@mssante.fr.example.com",
        "jean@mssante.fr",
        "jean@.mssante.fr",
        "@medecin.mssante.fr",
        "Dr Jean Dupont",
        "",
        "1234",
    ],
)
def test_unverified_recipient_refused(text: str) -> None:
    with pytest.raises(ExchangeError, match="adresse électronique ordinaire n'est pas un destinataire vérifié") as exc:
        parse_recipient(text)
    assert text.strip() == "" or text not in str(exc.value)


def test_rpps_with_wrong_check_digit_refused() -> None:
    wrong = RPPS[:-1] + str((int(RPPS[-1]) + 1) % 10)
    with pytest.raises(ExchangeError, match="clé de contrôle") as exc:
        parse_recipient(wrong)
    assert wrong not in str(exc.value) and ".mssante.fr" in str(exc.value)


# --- library --------------------------------------------------------------------------------------------


def test_round_trip_and_header(sealed: tuple[bytes, str]) -> None:
    envelope, secret = sealed
    assert SECRET_RE.fullmatch(secret) and all(c in ALPHABET for c in secret.replace("-", ""))
    assert len(ALPHABET) ** 20 >= 2**100
    assert envelope.startswith(b"SGX2") and DOC not in envelope and secret.encode() not in envelope
    header = read_header(envelope)
    assert set(header) == CLEAR_HEADER and header["version"] == 2
    assert header["recipient"] == {"kind": "rpps", "value": RPPS}
    assert header["kdf"]["n"] == 2**15 and header["created_at"].endswith("+00:00")
    opened = open_envelope(envelope, secret, recipient=Recipient("rpps", RPPS))
    assert opened.document == DOC and opened.filename == NAME
    assert opened.recipient == Recipient("rpps", RPPS) and opened.created_at.tzinfo is not None


def test_file_name_never_in_clear(sealed: tuple[bytes, str]) -> None:
    envelope = sealed[0]
    assert "filename" not in read_header(envelope)
    for clear in (NAME, "DUPONT", "Marie", "compte-rendu", "filename"):
        assert clear.encode() not in envelope and clear.lower().encode() not in envelope.lower()


def test_empty_document_round_trips() -> None:
    envelope, secret = seal(b"", Recipient("mssante", MSS), filename="vide.txt")
    opened = open_envelope(envelope, secret)
    assert opened.document == b"" and opened.filename == "vide.txt"


def test_secret_typed_loosely_still_opens(sealed: tuple[bytes, str]) -> None:
    envelope, secret = sealed
    loose = " ".join(secret.lower().split("-")).replace("0", "o").replace("1", "l")
    assert normalise_secret(loose) == secret.replace("-", "")
    assert open_envelope(envelope, loose).document == DOC


def test_every_seal_has_its_own_secret_and_salt() -> None:
    recipient = Recipient("mssante", MSS)
    (a, sa), (b, sb) = seal(DOC, recipient, filename="x.pdf"), seal(DOC, recipient, filename="x.pdf")
    assert sa != sb and read_header(a)["kdf"]["salt"] != read_header(b)["kdf"]["salt"] and a != b


def test_wrong_secret_refused(sealed: tuple[bytes, str]) -> None:
    envelope, secret = sealed
    other = ("2" if secret[0] != "2" else "3") + secret[1:]
    with pytest.raises(ExchangeError, match="Le secret n'ouvre pas cette enveloppe") as exc:
        open_envelope(envelope, other)
    assert "compte" not in str(exc.value) and RPPS not in str(exc.value)


def test_badly_shaped_secret_refused(sealed: tuple[bytes, str]) -> None:
    with pytest.raises(ExchangeError, match="20 lettres et chiffres"):
        open_envelope(sealed[0], "ABCD-EFGH")
    with pytest.raises(ExchangeError, match="20 lettres et chiffres"):
        open_envelope(sealed[0], "UUUU-UUUU-UUUU-UUUU-UUUU")


@pytest.mark.parametrize("where", ["last", "middle_of_ciphertext"])
def test_tampered_ciphertext_refused(sealed: tuple[bytes, str], where: str) -> None:
    envelope, secret = sealed
    index = len(envelope) - 1 if where == "last" else len(envelope) - 20
    tampered = bytearray(envelope)
    tampered[index] ^= 0x01
    with pytest.raises(ExchangeError, match="modifiée depuis qu'elle a été scellée") as exc:
        open_envelope(bytes(tampered), secret)
    assert "glycemie" not in str(exc.value)


def test_tampered_header_refused(sealed: tuple[bytes, str]) -> None:
    envelope, secret = sealed
    created = read_header(envelope)["created_at"].encode()
    redated = envelope.replace(created, created.replace(b"+00:00", b"+01:00"))
    assert redated != envelope
    with pytest.raises(ExchangeError, match="modifiée depuis qu'elle a été scellée"):
        open_envelope(redated, secret)
    other = make_rpps("2000000000").encode()
    readdressed = envelope.replace(RPPS.encode(), other)
    with pytest.raises(ExchangeError, match="modifiée depuis qu'elle a été scellée"):
        open_envelope(readdressed, secret)
    with pytest.raises(ExchangeError, match="modifiée depuis qu'elle a été scellée"):
        open_envelope(envelope[:30], secret)
    downgraded = envelope.replace(b'"version":2', b'"version":1')
    with pytest.raises(ExchangeError, match="modifiée depuis qu'elle a été scellée"):
        read_header(downgraded)


def test_older_format_refused(sealed: tuple[bytes, str]) -> None:
    envelope, secret = sealed
    old = b"SGX1" + envelope[4:].replace(b'"version":2', b'"version":1')
    for call in (lambda: open_envelope(old, secret), lambda: read_header(old)):
        with pytest.raises(ExchangeError, match="ancien format d'échange") as exc:
            call()
        assert "renvoyer le document" in str(exc.value)
        assert "send the document again" in exc.value.in_language("en")


@pytest.mark.parametrize(
    "plaintext",
    [b"", b"\x00\x00", struct.pack(">I", 99) + b"{}", struct.pack(">I", 2) + b"[]", struct.pack(">I", 2) + b"{}"],
)
def test_malformed_payload_refused(plaintext: bytes) -> None:
    envelope, secret = _envelope(plaintext, Recipient("rpps", RPPS))
    with pytest.raises(ExchangeError, match="modifiée depuis qu'elle a été scellée"):
        open_envelope(envelope, secret)


def test_file_name_not_a_string_refused() -> None:
    metadata = b'{"filename":42}'
    envelope, secret = _envelope(struct.pack(">I", len(metadata)) + metadata + DOC, Recipient("rpps", RPPS))
    with pytest.raises(ExchangeError, match="modifiée depuis qu'elle a été scellée"):
        open_envelope(envelope, secret)


def test_unsafe_name_inside_is_dropped() -> None:
    envelope, secret = _envelope(_payload(DOC, "../../etc/passwd"), Recipient("rpps", RPPS))
    opened = open_envelope(envelope, secret)
    assert opened.document == DOC and opened.filename == ""


def test_recipient_mismatch_refused(sealed: tuple[bytes, str]) -> None:
    envelope, secret = sealed
    with pytest.raises(ExchangeError, match="adressée à un autre destinataire") as exc:
        open_envelope(envelope, secret, recipient=Recipient("mssante", MSS))
    assert RPPS not in str(exc.value)
    with pytest.raises(ExchangeError, match="adressée à un autre destinataire"):
        check_recipient(envelope, Recipient("rpps", make_rpps("2000000000")))
    check_recipient(envelope, Recipient("rpps", RPPS))


def test_not_an_envelope() -> None:
    with pytest.raises(ExchangeError, match="pas une enveloppe d'échange santegarde"):
        open_envelope(b"%PDF-1.4 not sealed", "AAAA-AAAA-AAAA-AAAA-AAAA")
    with pytest.raises(ExchangeError, match="pas une enveloppe d'échange santegarde"):
        read_header(b"")


def test_unsafe_file_name_refused() -> None:
    for name in ("../etc/passwd", "dir/file.pdf", "..", ""):
        with pytest.raises(ExchangeError, match="nom simple, sans répertoire"):
            seal(DOC, Recipient("rpps", RPPS), filename=name)


# --- command line ----------------------------------------------------------------------------------------


def test_send_and_open_end_to_end(
    runner: CliRunner, org: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = tmp_path / "cr-patient-fictif.pdf"
    document.write_bytes(DOC)
    sent = runner.invoke(app, ["exchange", "send", str(document), "--to", MSS, "--by", "dr-test", "--config", str(org)])
    assert sent.exit_code == 0, sent.output
    (envelope,) = tmp_path.glob("*.sgx")
    assert re.fullmatch(r"[0-9a-f]{8}\.sgx", envelope.name) and str(envelope) in sent.output.replace("\n", "")
    assert DOC not in envelope.read_bytes() and b"cr-patient-fictif" not in envelope.read_bytes()
    match = SECRET_RE.search(sent.output)
    assert match is not None and sent.output.count(match.group(0)) == 1
    assert "another channel" in sent.output and "phone" in sent.output
    secret = match.group(0)

    contents = _audit_contents(org)
    sends = [c for c in contents if c["operation"] == "exchange.send"]
    assert len(sends) == 1
    event = sends[0]
    assert event["actor"] == "dr-test" and event["rule"] == "COM-EXC-1" and event["resource_type"] == "Document"
    assert event["purpose"] == "professional_communications" and event["allowed"] is True
    assert re.fullmatch(r"[0-9a-f]{64}", str(event["resource_id"]))
    text = json.dumps(event)
    for leaked in (secret, secret.replace("-", ""), "cr-patient-fictif", "glycemie"):
        assert leaked not in text

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    received = inbox / envelope.name
    received.write_bytes(envelope.read_bytes())
    monkeypatch.setenv("SANTEGARDE_EXCHANGE_SECRET", secret.lower())
    opened = runner.invoke(app, ["exchange", "open", str(received), "--recipient", MSS.upper()])
    assert opened.exit_code == 0, opened.output
    assert (inbox / "cr-patient-fictif.pdf").read_bytes() == DOC

    again = runner.invoke(app, ["exchange", "open", str(received)])
    said = " ".join(again.output.split())
    assert again.exit_code == 2 and "n'est jamais écrasé : choisissez un autre nom avec --out" in said


def test_open_with_wrong_secret_writes_nothing(
    runner: CliRunner, tmp_path: Path, sealed: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    received = tmp_path / "doc.sgx"
    received.write_bytes(sealed[0])
    monkeypatch.setenv("SANTEGARDE_EXCHANGE_SECRET", "2222-2222-2222-2222-2222")
    result = runner.invoke(app, ["exchange", "open", str(received), "--out", str(tmp_path / "out.pdf")])
    assert result.exit_code == 2 and "Le secret n'ouvre pas cette enveloppe" in result.output
    assert not (tmp_path / "out.pdf").exists() and "Traceback" not in result.output


def test_open_asks_the_secret_hidden(
    runner: CliRunner, tmp_path: Path, sealed: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SANTEGARDE_EXCHANGE_SECRET", raising=False)
    received = tmp_path / "doc.sgx"
    received.write_bytes(sealed[0])
    result = runner.invoke(app, ["exchange", "open", str(received)], input=sealed[1] + "\n")
    assert result.exit_code == 0, result.output
    assert sealed[1] not in result.output
    assert (tmp_path / NAME).read_bytes() == DOC


@pytest.mark.parametrize("to", ["jean.dupont@gmail.com", RPPS[:-1] + str((int(RPPS[-1]) + 1) % 10)])
def test_send_refuses_unverified_recipient_before_any_write(
    runner: CliRunner, org: Path, tmp_path: Path, to: str
) -> None:
    document = tmp_path / "cr.pdf"
    document.write_bytes(DOC)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["exchange", "send", str(document), "--to", to, "--config", str(org)])
    assert result.exit_code == 2 and ".mssante.fr" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not [c for c in _audit_contents(org) if c["operation"] == "exchange.send"]


def test_send_refuses_unverified_recipient_without_organisation(runner: CliRunner, tmp_path: Path) -> None:
    document = tmp_path / "cr.pdf"
    document.write_bytes(DOC)
    result = runner.invoke(
        app, ["exchange", "send", str(document), "--to", "a@b.fr", "--config", str(tmp_path / "none.yaml")]
    )
    assert result.exit_code == 2 and "n'est pas un destinataire vérifié" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cr.pdf"]


def test_send_default_name_is_neutral_and_fresh(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    folder.mkdir()
    document = folder / "DUPONT Marie - bilan.pdf"
    document.write_bytes(DOC)
    for _ in range(2):
        result = runner.invoke(app, ["exchange", "send", str(document), "--to", RPPS, "--config", str(org)])
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in folder.glob("*.sgx"))
    assert len(names) == 2 and all(re.fullmatch(r"[0-9a-f]{8}\.sgx", n) for n in names)
    assert sorted(p.name for p in folder.iterdir()) == sorted([document.name, *names])


def test_send_refuses_to_overwrite(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    document = tmp_path / "cr.pdf"
    document.write_bytes(DOC)
    existing = tmp_path / "earlier.sgx"
    existing.write_bytes(b"earlier envelope")
    args = ["exchange", "send", str(document), "--to", RPPS, "--out", str(existing), "--config", str(org)]
    result = runner.invoke(app, [*args, "--lang", "en"])
    assert result.exit_code == 2 and "never overwritten; choose another --out" in " ".join(result.output.split())
    assert existing.read_bytes() == b"earlier envelope"
    assert not [c for c in _audit_contents(org) if c["operation"] == "exchange.send"]


def _received(tmp_path: Path, sealed: tuple[bytes, str]) -> Path:
    received = tmp_path / "doc.sgx"
    received.write_bytes(sealed[0])
    return received


def test_open_for_another_recipient_refused_before_the_secret(
    runner: CliRunner, tmp_path: Path, sealed: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SANTEGARDE_EXCHANGE_SECRET", raising=False)
    received = _received(tmp_path, sealed)
    result = runner.invoke(app, ["exchange", "open", str(received), "--recipient", MSS], input=sealed[1] + "\n")
    assert result.exit_code == 2 and "adressée à un autre destinataire" in result.output
    assert "One-time secret" not in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.sgx"]


def test_open_with_unverified_recipient_refused(
    runner: CliRunner, tmp_path: Path, sealed: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANTEGARDE_EXCHANGE_SECRET", sealed[1])
    received = _received(tmp_path, sealed)
    result = runner.invoke(app, ["exchange", "open", str(received), "--recipient", "jean@gmail.com"])
    assert result.exit_code == 2 and "n'est pas un destinataire vérifié" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.sgx"]


def test_open_with_matching_recipient_and_out(
    runner: CliRunner, tmp_path: Path, sealed: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANTEGARDE_EXCHANGE_SECRET", sealed[1])
    received = _received(tmp_path, sealed)
    target = tmp_path / "renamed.pdf"
    result = runner.invoke(app, ["exchange", "open", str(received), "--recipient", RPPS, "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == DOC and not (tmp_path / NAME).exists()
    again = runner.invoke(app, ["exchange", "open", str(received), "--out", str(target)])
    assert again.exit_code == 2 and "n'est jamais écrasé" in " ".join(again.output.split())


def test_open_without_usable_name_asks_for_out(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    envelope, secret = _envelope(_payload(DOC, "../evil.pdf"), Recipient("rpps", RPPS))
    monkeypatch.setenv("SANTEGARDE_EXCHANGE_SECRET", secret)
    received = _received(tmp_path, (envelope, secret))
    result = runner.invoke(app, ["exchange", "open", str(received)])
    assert result.exit_code == 2 and "--out" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.sgx"] and not (tmp_path.parent / "evil.pdf").exists()


def test_open_older_envelope_is_a_sentence(
    runner: CliRunner, tmp_path: Path, sealed: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANTEGARDE_EXCHANGE_SECRET", sealed[1])
    received = _received(tmp_path, (b"SGX1" + sealed[0][4:], sealed[1]))
    result = runner.invoke(app, ["exchange", "open", str(received)])
    assert result.exit_code == 2 and "ancien format d'échange" in result.output and "Traceback" not in result.output


# --- write_new_bytes -------------------------------------------------------------------------------------


def test_write_new_bytes_writes_a_private_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "new.bin"
    write_new_bytes(target, b"\x00data")
    assert target.read_bytes() == b"\x00data" and stat.S_IMODE(target.stat().st_mode) == 0o600
    write_new_bytes(tmp_path / "shared.bin", b"x", mode=0o644)
    assert stat.S_IMODE((tmp_path / "shared.bin").stat().st_mode) == 0o644


def test_write_new_bytes_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "kept.bin"
    target.write_bytes(b"original")
    with pytest.raises(AlreadyExists, match="existe déjà et n'est jamais écrasé : choisissez un autre nom") as exc:
        write_new_bytes(target, b"replacement")
    assert exc.value.path == target and target.read_bytes() == b"original"
    assert exc.value.in_language("en") == f"{target} already exists and is never overwritten; choose another name."
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.bin"]


def test_send_missing_file_is_a_sentence(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["exchange", "send", str(tmp_path / "nope.pdf"), "--to", RPPS, "--config", str(org)])
    assert (
        result.exit_code == 2
        and "ne se lit pas (fichier introuvable)" in result.output
        and "Traceback" not in result.output
    )
