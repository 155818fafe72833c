"""The practice's appointment book in the console: the secretariat books a patient found by the search and reads
the day and the week (identity and appointments only, never the chart); mistakes said in French next to their
field, nothing stored; forged or signed-out requests refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from test_web import browser, error_of, signed_in, words
from web_fixtures import Practice, make_practice

BOOKING = {"jour": "2026-12-08", "heure": "14:30", "duree": "20"}


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
    assert "<td>14 h 30</td><td>20 min</td><td>Fictivé Alix</td><td>confirmé</td>" in day
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
