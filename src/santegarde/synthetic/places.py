"""Real French communes (postal code, name, INSEE code) so that addresses and NIR birthplaces agree.

The NIR's department and commune fields are the INSEE code of the birthplace: "75111" → "75" +
"111" (Paris 11e), "2A004" → "2A" + "004" (Ajaccio), "97209" → "97" + "209" (Fort-de-France). A
person born abroad has "99" and the INSEE country code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Commune:
    postal_code: str
    city: str
    insee: str

    @property
    def department(self) -> str:
        """The department as written in a postal address context (2A/2B, 971…)."""
        return self.insee[:3] if self.insee.startswith("97") else self.insee[:2]

    def nir_department(self, birth_year: int) -> str:
        """The department field of a NIR for someone born here (Corsica was "20" before 1976)."""
        if self.insee[:2] in ("2A", "2B") and birth_year < 1976:
            return "20"
        return self.insee[:2]

    @property
    def nir_commune(self) -> int:
        return int(self.insee[2:])


COMMUNES: tuple[Commune, ...] = (
    Commune("75011", "Paris", "75111"),
    Commune("75015", "Paris", "75115"),
    Commune("75018", "Paris", "75118"),
    Commune("13008", "Marseille", "13208"),
    Commune("69003", "Lyon", "69383"),
    Commune("31000", "Toulouse", "31555"),
    Commune("06000", "Nice", "06088"),
    Commune("44000", "Nantes", "44109"),
    Commune("67000", "Strasbourg", "67482"),
    Commune("34000", "Montpellier", "34172"),
    Commune("33000", "Bordeaux", "33063"),
    Commune("59000", "Lille", "59350"),
    Commune("35000", "Rennes", "35238"),
    Commune("51100", "Reims", "51454"),
    Commune("38000", "Grenoble", "38185"),
    Commune("21000", "Dijon", "21231"),
    Commune("49000", "Angers", "49007"),
    Commune("29200", "Brest", "29019"),
    Commune("37000", "Tours", "37261"),
    Commune("87000", "Limoges", "87085"),
    Commune("63000", "Clermont-Ferrand", "63113"),
    Commune("76000", "Rouen", "76540"),
    Commune("57000", "Metz", "57463"),
    Commune("25000", "Besançon", "25056"),
    Commune("14000", "Caen", "14118"),
    Commune("45000", "Orléans", "45234"),
    Commune("64000", "Pau", "64445"),
    Commune("20000", "Ajaccio", "2A004"),
    Commune("20200", "Bastia", "2B033"),
    Commune("97200", "Fort-de-France", "97209"),
    Commune("97400", "Saint-Denis", "97411"),
)

# INSEE codes of countries of birth (department 99 in a NIR).
BIRTH_COUNTRIES: tuple[tuple[str, int], ...] = (
    ("Maroc", 350),
    ("Algérie", 352),
    ("Tunisie", 351),
    ("Portugal", 139),
    ("Italie", 127),
    ("Espagne", 134),
    ("Allemagne", 109),
    ("Belgique", 131),
)
