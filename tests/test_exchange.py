"""Secure exchange (COM-EXC-1): sealed envelopes, secrets by another channel, verified recipients."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from santegarde.audit.tables import entry
from santegarde.cli.main import app
from santegarde.crypto.exchange import (
    ALPHABET,
    ExchangeError,
    Recipient,
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


@pytest.fixture(scope="module")
def sealed() -> tuple[bytes, str]:
    return seal(DOC, Recipient("rpps", RPPS), filename="compte-rendu.pdf")


@pytest.fixture
def org(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANTEGARDE_PASSPHRASE", PASS)
    directory = tmp_path / "org"
    result = runner.invoke(app, ["init", "--profile", "practice", "--dir", str(directory), "--name", "Cabinet Test"])
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
    with pytest.raises(ExchangeError, match="ordinary e-mail address is not a verified recipient") as exc:
        parse_recipient(text)
    assert text.strip() == "" or text not in str(exc.value)


def test_rpps_with_wrong_check_digit_refused() -> None:
    wrong = RPPS[:-1] + str((int(RPPS[-1]) + 1) % 10)
    with pytest.raises(ExchangeError, match="check digit") as exc:
        parse_recipient(wrong)
    assert wrong not in str(exc.value) and ".mssante.fr" in str(exc.value)


# --- library --------------------------------------------------------------------------------------------


def test_round_trip_and_header(sealed: tuple[bytes, str]) -> None:
    envelope, secret = sealed
    assert SECRET_RE.fullmatch(secret) and all(c in ALPHABET for c in secret.replace("-", ""))
    assert len(ALPHABET) ** 20 >= 2**100
    assert envelope.startswith(b"SGX1") and DOC not in envelope and secret.encode() not in envelope
    header = read_header(envelope)
    assert header["recipient"] == {"kind": "rpps", "value": RPPS}
    assert header["filename"] == "compte-rendu.pdf" and header["version"] == 1
    assert header["kdf"]["n"] == 2**15 and header["created_at"].endswith("+00:00")
    opened = open_envelope(envelope, secret, recipient=Recipient("rpps", RPPS))
    assert opened.document == DOC and opened.filename == "compte-rendu.pdf"
    assert opened.recipient == Recipient("rpps", RPPS) and opened.created_at.tzinfo is not None


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
    with pytest.raises(ExchangeError, match="The secret does not open this envelope") as exc:
        open_envelope(envelope, other)
    assert "compte" not in str(exc.value) and RPPS not in str(exc.value)


def test_badly_shaped_secret_refused(sealed: tuple[bytes, str]) -> None:
    with pytest.raises(ExchangeError, match="20 letters and digits"):
        open_envelope(sealed[0], "ABCD-EFGH")
    with pytest.raises(ExchangeError, match="20 letters and digits"):
        open_envelope(sealed[0], "UUUU-UUUU-UUUU-UUUU-UUUU")


@pytest.mark.parametrize("where", ["last", "middle_of_ciphertext"])
def test_tampered_ciphertext_refused(sealed: tuple[bytes, str], where: str) -> None:
    envelope, secret = sealed
    index = len(envelope) - 1 if where == "last" else len(envelope) - 20
    tampered = bytearray(envelope)
    tampered[index] ^= 0x01
    with pytest.raises(ExchangeError, match="altered since it was sealed") as exc:
        open_envelope(bytes(tampered), secret)
    assert "glycemie" not in str(exc.value)


def test_tampered_header_refused(sealed: tuple[bytes, str]) -> None:
    envelope, secret = sealed
    relabelled = envelope.replace(b"compte-rendu.pdf", b"compte-rendX.pdf")
    with pytest.raises(ExchangeError, match="altered since it was sealed"):
        open_envelope(relabelled, secret)
    other = make_rpps("2000000000").encode()
    readdressed = envelope.replace(RPPS.encode(), other)
    with pytest.raises(ExchangeError, match="altered since it was sealed"):
        open_envelope(readdressed, secret)
    with pytest.raises(ExchangeError, match="altered since it was sealed"):
        open_envelope(envelope[:30], secret)


def test_recipient_mismatch_refused(sealed: tuple[bytes, str]) -> None:
    envelope, secret = sealed
    with pytest.raises(ExchangeError, match="addressed to another recipient") as exc:
        open_envelope(envelope, secret, recipient=Recipient("mssante", MSS))
    assert RPPS not in str(exc.value)


def test_not_an_envelope() -> None:
    with pytest.raises(ExchangeError, match="not a santegarde exchange envelope"):
        open_envelope(b"%PDF-1.4 not sealed", "AAAA-AAAA-AAAA-AAAA-AAAA")
    with pytest.raises(ExchangeError, match="not a santegarde exchange envelope"):
        read_header(b"")


def test_unsafe_file_name_refused() -> None:
    for name in ("../etc/passwd", "dir/file.pdf", "..", ""):
        with pytest.raises(ExchangeError, match="plain name without directories"):
            seal(DOC, Recipient("rpps", RPPS), filename=name)


# --- command line ----------------------------------------------------------------------------------------


def test_send_and_open_end_to_end(
    runner: CliRunner, org: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = tmp_path / "cr-patient-fictif.pdf"
    document.write_bytes(DOC)
    sent = runner.invoke(app, ["exchange", "send", str(document), "--to", MSS, "--by", "dr-test", "--config", str(org)])
    assert sent.exit_code == 0, sent.output
    envelope = tmp_path / "cr-patient-fictif.pdf.sgx"
    assert envelope.is_file() and DOC not in envelope.read_bytes()
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
    opened = runner.invoke(app, ["exchange", "open", str(received)])
    assert opened.exit_code == 0, opened.output
    assert (inbox / "cr-patient-fictif.pdf").read_bytes() == DOC

    again = runner.invoke(app, ["exchange", "open", str(received)])
    assert again.exit_code == 2 and "never overwritten" in again.output


def test_open_with_wrong_secret_writes_nothing(
    runner: CliRunner, tmp_path: Path, sealed: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    received = tmp_path / "doc.sgx"
    received.write_bytes(sealed[0])
    monkeypatch.setenv("SANTEGARDE_EXCHANGE_SECRET", "2222-2222-2222-2222-2222")
    result = runner.invoke(app, ["exchange", "open", str(received), "--out", str(tmp_path / "out.pdf")])
    assert result.exit_code == 2 and "The secret does not open this envelope" in result.output
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
    assert (tmp_path / "compte-rendu.pdf").read_bytes() == DOC


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
    assert result.exit_code == 2 and "not a verified recipient" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cr.pdf"]


def test_send_refuses_to_overwrite(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    document = tmp_path / "cr.pdf"
    document.write_bytes(DOC)
    existing = tmp_path / "cr.pdf.sgx"
    existing.write_bytes(b"earlier envelope")
    result = runner.invoke(app, ["exchange", "send", str(document), "--to", RPPS, "--config", str(org)])
    assert result.exit_code == 2 and "never overwritten" in result.output
    assert existing.read_bytes() == b"earlier envelope"
    assert not [c for c in _audit_contents(org) if c["operation"] == "exchange.send"]


def test_send_missing_file_is_a_sentence(runner: CliRunner, org: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["exchange", "send", str(tmp_path / "nope.pdf"), "--to", RPPS, "--config", str(org)])
    assert result.exit_code == 2 and "cannot be read" in result.output and "Traceback" not in result.output
