"""The practice's appointment book in the console: the secretariat books a patient found by the search and reads
the day and the week (identity and appointments only, never the chart); mistakes said in French next to their
field, nothing stored; forged or signed-out requests refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from santegarde.identity import grants
from test_pharmacy_register import audit_rows
from test_web import browser, error_of, signed_in, words
from web_fixtures import Practice, make_practice

MARTIN, AUTRE = "dr.martin", "dr.autre"  # the practice's two practitioners
BOOKING = {"jour": "2026-12-08", "heure": "14:30", "duree": "20", "praticien": MARTIN}


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = make_practice(tmp_path)
    yield p
    p.close()


def booked(practice: Practice, c: TestClient) -> str:
    return words(c.get("/rendez-vous?jour=2026-12-08&vue=semaine"))


def test_the_secretariat_books_a_patient_and_reads_the_day_and_the_week(practice: Practice) -> None:
    c, token = signed_in(practice, "sec.durand")
    found = words(c.post("/patients/recherche", data={"csrf": token, "nom": "Fictivé"}))
    assert "Prendre un rendez-vous pour Alix Fictivé" in found
    form = words(c.get("/rendez-vous/nouveau/p-1"))
    assert "Prendre un rendez-vous pour Alix Fictivé" in form
    saved = c.post("/rendez-vous/nouveau/p-1", data={"csrf": token, **BOOKING})
    assert saved.status_code == 303 and saved.headers["location"] == "/rendez-vous?jour=2026-12-08"
    day = words(c.get("/rendez-vous?jour=2026-12-08"))
    assert "Rendez-vous — Mardi 8 décembre 2026" in day
    assert "<td>14 h 30</td><td>20 min</td><td>Fictivé Alix</td><td>confirmé</td><td>Dr Martin</td>" in day
    week = booked(practice, c)
    assert "Semaine du 7 décembre 2026" in week and "lundi 7 décembre 2026" in week.lower() and "14 h 30" in week
    assert "Aucun rendez-vous." in words(c.get("/rendez-vous?jour=2026-12-09"))
    assert "61,5" not in day and "Diabète" not in day  # identity and appointments only
    assert c.get("/patients/p-1").status_code == 403  # the chart stays closed to the secretariat


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("jour", "08/12/2026", "Saisissez la date du rendez-vous (jour, mois et année)."),
        ("heure", "vers midi", "Saisissez l'heure sous la forme 14:30."),
        ("heure", "25:00", "Saisissez l'heure sous la forme 14:30."),
        ("duree", "7", "Choisissez une durée dans la liste."),
        ("praticien", "sec.durand", "Choisissez le praticien dans la liste."),
        ("praticien", "", "Choisissez le praticien dans la liste."),
    ],
)
def test_a_mistake_is_said_next_to_its_field_and_nothing_is_booked(
    practice: Practice, field: str, value: str, expected: str
) -> None:
    c, token = signed_in(practice, "sec.durand")
    refused = c.post("/rendez-vous/nouveau/p-1", data={"csrf": token, **BOOKING, field: value})
    assert refused.status_code == 422 and error_of(refused, field) == expected
    assert "Le rendez-vous n'est pas enregistré." in words(refused)
    assert "14 h 30" not in booked(practice, c)


def test_forged_or_signed_out_requests_book_nothing(practice: Practice) -> None:
    c, _ = signed_in(practice, "sec.durand")
    forged = c.post("/rendez-vous/nouveau/p-1", data={"csrf": "0" * 64, **BOOKING})
    assert forged.status_code == 403 and "Formulaire expiré" in words(forged)
    anonymous = browser(practice)
    assert anonymous.get("/rendez-vous").headers["location"] == "/connexion"
    assert anonymous.get("/rendez-vous/nouveau/p-1").headers["location"] == "/connexion"
    assert "14 h 30" not in booked(practice, c)
    assert c.get("/rendez-vous/nouveau/inconnu").status_code == 404


def appointment_id(c: TestClient, day: str = "2026-12-08") -> str:
    (found,) = re.findall(r'href="/rendez-vous/([^/"]+)/deplacer"', c.get(f"/rendez-vous?jour={day}").text)
    return str(found)


def test_the_day_is_the_day_of_paris_not_of_utc(practice: Practice) -> None:
    c, token = signed_in(practice, "sec.durand")
    late = {**BOOKING, "jour": "2026-12-08", "heure": "23:30"}  # 22:30 UTC the same day
    early = {**BOOKING, "jour": "2026-12-09", "heure": "00:30"}  # 23:30 UTC the day before
    for form in (late, early):
        assert c.post("/rendez-vous/nouveau/p-1", data={"csrf": token, **form}).status_code == 303
    eighth, ninth = words(c.get("/rendez-vous?jour=2026-12-08")), words(c.get("/rendez-vous?jour=2026-12-09"))
    assert "23 h 30" in eighth and "0 h 30" not in eighth
    assert "0 h 30" in ninth and "23 h 30" not in ninth


def test_the_secretariat_moves_an_appointment_to_another_day_and_practitioner(practice: Practice) -> None:
    c, token = signed_in(practice, "sec.durand")
    c.post("/rendez-vous/nouveau/p-1", data={"csrf": token, **BOOKING})
    aid = appointment_id(c)
    form = words(c.get(f"/rendez-vous/{aid}/deplacer"))
    assert "Déplacer le rendez-vous de Alix Fictivé" in form and 'value="14:30"' in form
    assert f'<option value="{MARTIN}" selected>Dr Martin</option>' in form
    wrong = c.post(f"/rendez-vous/{aid}/deplacer", data={"csrf": token, **BOOKING, "heure": "vers midi"})
    assert wrong.status_code == 422 and error_of(wrong, "heure").startswith("Saisissez l'heure")
    moved = c.post(
        f"/rendez-vous/{aid}/deplacer",
        data={"csrf": token, "jour": "2026-12-10", "heure": "9:15", "duree": "30", "praticien": AUTRE},
    )
    assert moved.status_code == 303 and moved.headers["location"] == "/rendez-vous?jour=2026-12-10"
    assert "Aucun rendez-vous." in words(c.get("/rendez-vous?jour=2026-12-08"))
    day = words(c.get("/rendez-vous?jour=2026-12-10"))
    assert "<td>9 h 15</td><td>30 min</td><td>Fictivé Alix</td><td>confirmé</td><td>Dr Autre</td>" in day
    updates = [
        a for a in audit_rows(practice.place) if a["resource_type"] == "Appointment" and a["operation"] == "update"
    ]
    assert updates and all(a["actor"] == "sec.durand" and a["purpose"] == "appointments" for a in updates)


def test_a_cancelled_appointment_is_shown_as_such_and_changes_no_more(practice: Practice) -> None:
    c, token = signed_in(practice, "sec.durand")
    c.post("/rendez-vous/nouveau/p-1", data={"csrf": token, **BOOKING})
    aid = appointment_id(c)
    forged = c.post(f"/rendez-vous/{aid}/annulation", data={"csrf": "0" * 64})
    assert forged.status_code == 403 and "Formulaire expiré" in words(forged)
    done = c.post(f"/rendez-vous/{aid}/annulation", data={"csrf": token})
    assert done.status_code == 303 and done.headers["location"] == "/rendez-vous?jour=2026-12-08"
    day = words(c.get("/rendez-vous?jour=2026-12-08"))
    assert "<td>annulé</td>" in day and f"/rendez-vous/{aid}/deplacer" not in day
    again = c.post(f"/rendez-vous/{aid}/annulation", data={"csrf": token})
    assert again.status_code == 409 and "ne peut plus être déplacé ni annulé" in words(again)
    moved = c.post(f"/rendez-vous/{aid}/deplacer", data={"csrf": token, **BOOKING, "jour": "2026-12-11"})
    assert moved.status_code == 409 and "Aucun rendez-vous." in words(c.get("/rendez-vous?jour=2026-12-11"))
    assert c.post("/rendez-vous/inconnu-1/annulation", data={"csrf": token}).status_code == 404
    anonymous = browser(practice)
    assert anonymous.post(f"/rendez-vous/{aid}/annulation", data={"csrf": token}).status_code in (303, 403)


def test_only_practitioners_with_a_grant_in_force_are_offered(practice: Practice) -> None:
    c, token = signed_in(practice, "sec.durand")
    form = words(c.get("/rendez-vous/nouveau/p-1"))
    assert ">Dr Martin</option>" in form and ">Dr Autre</option>" in form and ">Sec Durand</option>" not in form
    ctx = practice.place.identity
    (grant,) = [g for g in grants.all_grants(ctx) if g.login == "dr.autre"]
    grants.revoke(ctx, grant.id, "fin de remplacement fictive", by="admin")
    assert ">Dr Autre</option>" not in words(c.get("/rendez-vous/nouveau/p-1"))
    refused = c.post("/rendez-vous/nouveau/p-1", data={"csrf": token, **BOOKING, "praticien": AUTRE})
    assert refused.status_code == 422 and error_of(refused, "praticien") == "Choisissez le praticien dans la liste."
