"""Identifiers in French clinical text: patterns, context and gazetteers (pure Python).

Numbers first (mail, NIR/INS with their key checked, RPPS/ADELI/FINESS, IPP/NDA, phones), then addresses, dates,
hospitals, postal codes and cities, then persons: a title or a context word ("Dr", "Mme", "Patient :", "Cas de")
names what follows; a capitalised word from the first-name or surname gazetteer is a name unless it is also a
common French word, which needs a neighbour that is a name. The common-word lexicon is given by the caller
(`Detector` takes it from spaCy's French model); without it, only context decides who is a person.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from importlib import resources

from santegarde.deid.entities import Entity
from santegarde.identifiers import InvalidIdentifier, validate_nir, validate_rpps


def fold(text: str) -> str:
    """Lower case without accents: how the gazetteers are keyed."""
    return _fold_word(text) if len(text) <= 40 else _fold(text)


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(c))


_fold_word = lru_cache(maxsize=1 << 16)(_fold)  # the words of notes repeat: each is folded once


@cache
def gazetteer(name: str) -> frozenset[str]:
    """One of the shipped lists (prenoms, noms, communes), folded; see data/SOURCES.md."""
    text = resources.files("santegarde.deid").joinpath(f"data/{name}.txt").read_text(encoding="utf-8")
    return frozenset(text.split())


# Function words and clinical words that the name gazetteers hold but that are never taken for a name alone.
STOP = frozenset(
    fold(w)
    for w in [
        "a",
        "à",
        "au",
        "aux",
        "avec",
        "ce",
        "ces",
        "cet",
        "cette",
        "chez",
        "dans",
        "de",
        "des",
        "du",
        "en",
        "et",
        "il",
        "elle",
        "ils",
        "elles",
        "je",
        "la",
        "le",
        "les",
        "leur",
        "lui",
        "ma",
        "mais",
        "me",
        "mes",
        "mon",
        "ne",
        "ni",
        "nous",
        "on",
        "ou",
        "où",
        "par",
        "pas",
        "pour",
        "qu",
        "que",
        "qui",
        "sa",
        "sans",
        "se",
        "ses",
        "si",
        "son",
        "sur",
        "ta",
        "te",
        "tes",
        "toi",
        "ton",
        "tu",
        "un",
        "une",
        "vos",
        "votre",
        "vous",
        "y",
        "l",
        "d",
        "j",
        "m",
        "n",
        "s",
        "t",
        "c",
        "qu'",
        "ans",
        "an",
        "mois",
        "jour",
        "jours",
        "semaine",
        "semaines",
        "heure",
        "heures",
        "h",
        "mg",
        "ml",
        "g",
        "kg",
        "cm",
        "mm",
        "mme",
        "mlle",
        "mr",
        "dr",
        "drs",
        "pr",
        "prs",
        "m",
        "madame",
        "monsieur",
        "mademoiselle",
        "docteur",
        "professeur",
        "patient",
        "patiente",
        "usager",
        "bénéficiaire",
        "service",
        "hôpital",
        "clinique",
        "centre",
        "chu",
        "ch",
        "rue",
        "avenue",
        "boulevard",
        "place",
        "note",
        "dossier",
        "date",
        "tel",
        "tél",
        "fax",
        "mail",
        "janvier",
        "février",
        "fevrier",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "aout",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
        "decembre",
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "dimanche",
        "lun",
        "mar",
        "mer",
        "jeu",
        "ven",
        "sam",
        "dim",
        "jan",
        "fév",
        "fev",
        "avr",
        "juil",
        "sept",
        "oct",
        "nov",
        "déc",
        "dec",
    ]
)

# Acronyms of French care and social services, never a person or a hospital on their own ("orientation ESAT",
# "services de l'ASE", "l'OI" the cervix's internal os), though a few are also in the name lists: written in
# capitals only. Acronyms that are common names too (EVA the pain scale and Eva, MAS and Mas) are not listed.
ACRONYMS = frozenset(
    [
        "aah",
        "ald",
        "ame",
        "apa",
        "ars",
        "ase",
        "camsp",
        "caf",
        "ccas",
        "cmp",
        "cmpp",
        "cmu",
        "cpam",
        "esat",
        "fam",
        "had",
        "has",
        "ide",
        "ime",
        "irm",
        "itep",
        "mdph",
        "oe",
        "oi",
        "pmi",
        "rqth",
        "samsah",
        "samu",
        "savs",
        "sdf",
        "sessad",
        "smur",
        "ssr",
        "tdm",
        "usld",
    ]
)


def _stop(word: str) -> bool:
    """A word never taken for a name or a place on its own: a function word, or a service's acronym in capitals."""
    key = fold(word)
    return key in STOP or (word.isupper() and key in ACRONYMS)


# --- numbers ---------------------------------------------------------------------------------------------------
MAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
NIR_SHAPE = re.compile(r"(?<![\w])([12378])\s?(\d{2})\s?(\d{2})\s?(\d{2}|2[AB])\s?(\d{3})\s?(\d{3})\s?(\d{2})(?![\w])")
NIR_CONTEXT = re.compile(r"(?i)(?:\bnir\b|\bins\b|s[ée]cu|s[ée]curit[ée] sociale|\bn°\s*ss\b|matricule)[^\n]{0,25}$")
TEL = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\s?33\s?(?:\(0\)\s?)?[1-9](?:[\s.-]?\d{2}){4}"
    r"|(?:\(\d{2,3}\)\s?)?0\s?[1-9](?:[\s.-]?\d{2}){4}|\(\d{2,3}\)\s?\d(?:[\s.-]?\d){7,9})(?![\w])"
)
# A number typed (or OCRed) one digit at a time: "0 1 7 3 2 5 0 3 7 0", "0 1 - 6 4 - 7 7 - 1 6 - 6 5".
SPACED_SEP = r"(?:\s?[\s.-]\s?)"
TEL_SPACED = re.compile(rf"(?<![\w+])0{SPACED_SEP}[1-9](?:{SPACED_SEP}\d){{8}}(?![\w])")
PRO_NUMBER = re.compile(r"(?i)\b(rpps|adeli|finess)\b\s*(?:n°|no|num[ée]ro|:)?\s*:?\s*(\d[\d\s]{7,14}\d)")
STAY_NUMBER = re.compile(
    r"(?i)\b(ipp|nda|n°\s*(?:de\s+)?s[ée]jour|num[ée]ro\s+de\s+s[ée]jour|n°\s*(?:de\s+)?dossier|num[ée]ro\s+de\s+dossier"
    r"|n°\s*patient|identifiant\s+patient)\s*(?:n°|:)?\s*:?\s*([A-Z]{0,3}\d[\dA-Z-]{4,15})"
)
# Unnamed numbers masked on their key alone: an 11-digit RPPS (Luhn key, prefix 10 or 8); a FINESS or ADELI has only
# 9 digits and a Luhn key that one random number in ten passes, so those need their register's name (PRO_NUMBER).
LONE_NUMBERS: tuple[tuple[re.Pattern[str], Callable[[str], str], str], ...] = (
    (re.compile(r"(?<!\d)(?:10|8)\d{9}(?!\d)"), validate_rpps, "RPPS"),
)

# --- dates -----------------------------------------------------------------------------------------------------
MONTHS = (
    r"(?:janv(?:ier)?|f[ée]vr?(?:ier)?|mars|avr(?:il)?|mai|juin|juil(?:let)?|ao[uû]t|sept(?:embre)?"
    r"|oct(?:obre)?|nov(?:embre)?|d[ée]c(?:embre)?)\.?"
)
DAYS = r"(?:lun(?:di)?|mar(?:di)?|mer(?:credi)?|jeu(?:di)?|ven(?:dredi)?|sam(?:edi)?|dim(?:anche)?)\.?,?"
DATE_TEXT = re.compile(
    rf"(?i)(?<![\w])(?:{DAYS}\s+)?(?:1er|[0-3]?\d)\s+{MONTHS}(?:\s+(?:\d{{4}}|\d{{2}}(?![\w:h])))?(?![\w])"
    rf"|(?<![\w])(?:{MONTHS})\s+(?:19|20)\d{{2}}(?![\w])"
)
DATE_NUM = re.compile(r"(?<![\w/.-])([0-3]?\d)\s?([/.-])\s?([01]?\d)\s?\2\s?(\d{4}|\d{2})(?![\w/.-]|\.\d)")
DATE_SPACED = re.compile(r"(?<![\w/])\d(?:\s(?:[/.-]\s)?\d){5,7}(?![\w/])")
# A fraction after these words is a score ("Apgar 9/10/10", "EVA 7/10", "douleur évaluée à 7/10"), not a date.
SCORE_CONTEXT = re.compile(
    r"(?i)(?:\bapgar|\beva\b|\bscore|[ée]valu[ée]e?\s+[àa]|cot[ée]e?\s+[àa]|intensit[ée])\s*:?\s*(?:de\s+|[àa]\s+)?$"
)
BIRTH_CONTEXT = re.compile(
    r"(?i)(?:n[ée]e?\s+le|date\s+de\s+naissance|\bddn\b|naissance|n[ée]e?\s+en)\s*:?\s*(?:le\s+)?$"
)

# --- places ----------------------------------------------------------------------------------------------------
STREET = (
    r"(?:rue|avenue|av\.|bd|boulevard|place|pl\.|chemin|all[ée]e|impasse|route|quai|cours|square|r[ée]sidence"
    r"|lotissement|voie|passage|faubourg|rond-point|parvis|sentier|hameau|lieu-dit|villa|cit[ée]|esplanade|mail)"
)
ADDRESS = re.compile(
    rf"(?i)(?<![\w])\d{{1,4}}(?:\s?(?:bis|ter|[a-d]))?\s?,?\s+{STREET}\s+[^,;:\n()]{{1,60}}?"
    rf"(?=\s*(?:[,;:\n()]|\d{{2}}\s?\d{{3}}\b|$))"
    r"(?:\s*,?\s*\d{2}\s?\d{3}\s+(?:[A-ZÀ-Üa-zà-ü'’-]+(?:\s+(?!\d)[A-ZÀ-Üa-zà-ü'’-]+){0,3}))?"
)
ZIP_CITY = re.compile(
    r"(?<![\w])((?:\d{2}|2[AB])\s?\d{3})\s+((?:[A-ZÀ-Ü][\wÀ-ü'’-]*)(?:[\s-]+[A-ZÀ-Ü][\wÀ-ü'’-]*){0,3})"
)
ZIP_CONTEXT = re.compile(r"(?i)(?:\bcp\b|code\s+postal)\s*:?\s*((?:\d{2}|2[AB])\s?\d{3})(?!\d)")
HOSPITAL_WORDS = (
    r"(?:h[ôo]pital|hopital|chu|chru|chr|ch|chi|chs|clinique|polyclinique|centre\s+hospitalier(?:\s+universitaire)?"
    r"|groupe\s+hospitalier|gh|ghu|cds|centre\s+de\s+sant[ée]|ehpad|maternit[ée]|fondation)"
)
HOSPITAL = re.compile(
    rf"(?i)\b{HOSPITAL_WORDS}\s+(?:de\s+la\s+|de\s+l['’]|du\s+|des\s+|de\s+|d['’])?"
    r"((?-i:(?:[A-ZÀ-Ü][\wÀ-ü'’.-]*|[a-zà-ü]+)(?:[\s-]+(?:(?:de|du|des|la|le|d['’]|l['’])\s*)?(?-i:[A-ZÀ-Ü][\wÀ-ü'’.-]*)){0,4}))"
)
# AP-HP sites and other well-known French hospitals, often written without "hôpital".
KNOWN_HOSPITALS = re.compile(
    r"(?i)\b(?:piti[ée][\s-]salp[êe]tri[èe]re|salp[êe]tri[èe]re|necker|bichat|cochin|lariboisi[èe]re|hegp|tenon"
    r"|trousseau|robert[\s-]debr[ée]|bic[êe]tre|paul[\s-]brousse|avicenne|jean[\s-]verdier|louis[\s-]mourier|beaujon"
    r"|ambroise[\s-]par[ée]|henri[\s-]mondor|raymond[\s-]poincar[ée]|saint[\s-]antoine|rothschild|charles[\s-]foix"
    r"|corentin[\s-]celton|bretonneau|sainte[\s-]p[ée]rine|h[ôo]tel[\s-]dieu|georges[\s-]pompidou|[ée]mile[\s-]roux"
    r"|ren[ée][\s-]muret|(?:a\.\s?|albert[\s-])chenevier|joffre[\s-]dupuytren|l[ée]opold[\s-]bellan|saint[\s-]louis"
    r"|(?:paris\s+\d+\s*[–-]\s*)?denis[\s-]diderot|antoine[\s-]b[ée]cl[èe]re|adolphe[\s-]rothschild|gustave[\s-]roussy"
    r"|curie|foch|quinze[\s-]vingts|bct)\b"
)
L_APOSTROPHE_PROPER = re.compile(r"(?<=\b[lL]['’])([A-ZÀ-Ü][\wÀ-ü.-]*(?:[\s-]+[A-ZÀ-Ü][\wÀ-ü.-]*){0,3})")

# --- persons ---------------------------------------------------------------------------------------------------
# Titles in any case for those no French word shares ("mme dupont", "MME DUPONT", "Dr.Dupont"); the others as written.
TITLES = re.compile(
    r"(?:\b(?:(?i:Mmes?|Mlle|Madame|Monsieur|Mademoiselle|Drs?|Docteur|Prs?|Professeur)|M\.|MM\.|Mr|Me|Ma[îi]tre"
    r"|Interne|IDE|Infirmi[èe]re|Sage-femme)\.?(?:\s*:)?(?:\s+|(?<=\.)(?=[A-ZÀ-Ü])))"
)
CONTEXTS = re.compile(
    r"(?i)(?:\b(?:patient(?:e)?|usager|assur[ée]e?|ayant[\s-]droit|conjointe?|[ée]poux|tut(?:eur|rice)|curat(?:eur|rice)"
    r"|b[ée]n[ée]ficiaire|personne\s+suivie|enfant|cas\s+de|dossier\s+de|nom|pr[ée]nom"
    r"|nom\s+de\s+naissance|nom\s+d['’]usage|n[ée]e?|[ée]pouse|veuve|fils|fille|m[èe]re|p[èe]re|sign[ée]|r[ée]dig[ée]\s+par"
    r"|valid[ée]\s+par|de\s+la\s+part\s+de|adress[ée]e?\s+par|suivi[e]?\s+par|vu[e]?\s+par"
    # the signature block of a letter, after its closing words
    r"|cordialement|confraternellement|bien\s+[àa]\s+vous|salutations(?:\s+distingu[ée]es)?)\s*[:,.]?\s+)"
)
_PERSON_CUE = re.compile(rf"(?:{TITLES.pattern}|(?i:{CONTEXTS.pattern[4:]}))$")  # a title or context word just before
# A first name's initials before a capitalised word: "J. ", "P.-Y. ", "J.-M."
INITIALS = re.compile(r"[A-ZÀ-Ü]\.(?:\s?-\s?[A-ZÀ-Ü]\.)?\s?(?=[A-ZÀ-Ü])")
# A word; "O'Connor", "N'Diaye" are one (an elided French article, "l'", "d'", is not).
WORD = re.compile(
    r"(?<![\w])(?:[ON]['’](?=[A-ZÀ-Ü]))?[A-Za-zÀ-ÖØ-öø-ÿ](?:[A-Za-zÀ-ÖØ-öø-ÿ-]*[A-Za-zÀ-ÖØ-öø-ÿ])?(?![\w])"
)


def _add(found: list[Entity], start: int, end: int, label: str) -> None:
    found.append(Entity(start, end, label))


def _free(taken: list[Entity], start: int, end: int) -> bool:
    return all(end <= e.start or start >= e.end for e in taken)


def _numbers(text: str, found: list[Entity]) -> None:
    for m in MAIL.finditer(text):
        _add(found, m.start(), m.end(), "MAIL")
    for m in NIR_SHAPE.finditer(text):
        if not _free(found, m.start(), m.end()):
            continue
        digits = "".join(m.groups())
        try:
            validate_nir(digits)
            valid = True
        except InvalidIdentifier:
            valid = False
        if valid or NIR_CONTEXT.search(text[: m.start()]):
            _add(found, m.start(), m.end(), "SECU")
    for m in PRO_NUMBER.finditer(text):
        # Named by its register, the number is masked whatever its key (a mistyped number still identifies);
        # a number of the right length with a valid key is masked even unnamed (LONE_NUMBERS below).
        kind = m.group(1).upper()
        if _free(found, m.start(2), m.end(2)):
            _add(found, m.start(2), m.end(2), kind)
    for pattern, check, kind in LONE_NUMBERS:
        for m in pattern.finditer(text):
            try:
                check(re.sub(r"\s", "", m.group()))
            except InvalidIdentifier:
                continue
            if _free(found, m.start(), m.end()):
                _add(found, m.start(), m.end(), kind)
    for m in STAY_NUMBER.finditer(text):
        key = fold(m.group(1))
        label = "IPP" if ("ipp" in key or "patient" in key or "dossier" in key) else "NDA"
        if _free(found, m.start(2), m.end(2)):
            _add(found, m.start(2), m.end(2), label)
    for pattern in (TEL, TEL_SPACED):
        for m in pattern.finditer(text):
            if _free(found, m.start(), m.end()):
                _add(found, m.start(), m.end(), "TEL")


def _plausible(day: int, month: int) -> bool:
    return 1 <= day <= 31 and 1 <= month <= 12


def _dates(text: str, found: list[Entity], extra: Iterable[tuple[int, int]] = ()) -> None:
    spans: list[tuple[int, int]] = []
    for m in DATE_TEXT.finditer(text):
        spans.append((m.start(), m.end()))
    for m in DATE_NUM.finditer(text):
        if _plausible(int(m.group(1)), int(m.group(3))):
            spans.append((m.start(), m.end()))
    for m in DATE_SPACED.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        separators = set(re.findall(r"[/.-]", m.group()))
        if len(digits) in (6, 8) and not separators and _plausible(int(digits[:2]), int(digits[2:4])):
            spans.append((m.start(), m.end()))
        elif len(separators) == 1:
            parts = [re.sub(r"\s", "", p) for p in m.group().split(separators.pop())]
            if len(parts) == 3 and all(parts) and _plausible(int(parts[0]), int(parts[1])):
                spans.append((m.start(), m.end()))
    spans.extend(extra)
    for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
        score = re.fullmatch(r"[\d/\s]+", text[start:end]) and not re.search(r"\d{4}", text[start:end])
        if score and SCORE_CONTEXT.search(text[max(0, start - 30) : start]):
            continue
        if _free(found, start, end):
            label = "DATE_NAISSANCE" if BIRTH_CONTEXT.search(text[max(0, start - 40) : start]) else "DATE"
            _add(found, start, end, label)


def _places(text: str, found: list[Entity], lexicon: frozenset[str]) -> None:
    for m in ADDRESS.finditer(text):
        end = m.end()
        for w in reversed(list(WORD.finditer(text, m.start(), m.end()))):
            if fold(w.group()) not in STOP and not (w.group().islower() and fold(w.group()) in lexicon):
                break
            end = w.start()
        end = len(text[:end].rstrip(" ,"))
        if _free(found, m.start(), end):
            _add(found, m.start(), end, "ADRESSE")
    hospitals: list[tuple[int, int]] = []
    for m in HOSPITAL.finditer(text):
        first = WORD.match(m.group(1))
        if first is None or fold(first.group()) in PARTICLES:
            continue
        if first.group()[0].islower():
            # "Hôpital centre cardiologique du nord": a capitalised "Hôpital" names what follows, up to punctuation
            if not m.group()[0].isupper() or not re.match(r"(?i)h[ôo]pital", m.group()):
                continue
            stop = re.search(r"[,;.:()\n]", text[m.start(1) :])
            end = m.start(1) + stop.start() if stop else len(text)
            hospitals.append((m.start(1), end))
            continue
        if _stop(first.group()):
            continue
        hospitals.append((m.start(1), _trim_proper(text, m.start(1), m.end(1), lexicon)))
    for m in KNOWN_HOSPITALS.finditer(text):
        hospitals.append((m.start(), m.end()))
    for m in L_APOSTROPHE_PROPER.finditer(text):
        words = WORD.findall(m.group())
        lead = fold(words[0]) if words else ""
        if words and not _stop(words[0]) and not (lead in lexicon and not words[0].isupper()):
            hospitals.append((m.start(), _trim_proper(text, m.start(), m.end(), lexicon)))
    for start, end in sorted(hospitals, key=lambda s: (s[0], -s[1])):
        if _free(found, start, end):
            _add(found, start, end, "HOPITAL")
    communes = gazetteer("communes")
    for m in ZIP_CITY.finditer(text):
        if _free(found, m.start(1), m.end(1)):
            _add(found, m.start(1), m.end(1), "ZIP")
        city = m.group(2)
        if _free(found, m.start(2), m.end(2)) and city:
            _add(found, m.start(2), m.end(2), "VILLE")
    for m in ZIP_CONTEXT.finditer(text):
        if _free(found, m.start(1), m.end(1)):
            _add(found, m.start(1), m.end(1), "ZIP")
    for m in WORD.finditer(text):
        word = m.group()
        key = fold(word)
        if key not in communes or _stop(word) or not _free(found, m.start(), m.end()):
            continue
        if word.isupper() and key in gazetteer("noms") and _PERSON_CUE.search(text[max(0, m.start() - 60) : m.start()]):
            continue  # "Mme VERNOUILLET", "l'assuré ALBERT": a surname that is also a commune, left to _persons
        before = text[max(0, m.start() - 6) : m.start()].lower()
        preceded = bool(re.search(r"(?:\b(?:à|a|de|du|sur|en)\s+|\bd['’])$", before))
        common = key in lexicon
        named = key in gazetteer("noms") or key in gazetteer("prenoms")
        if (
            (word.isupper() and len(word) > 2 and not common)
            or (preceded and (not common or word[0].isupper()))
            or (word[0].isupper() and not common and not named and len(word) > 3)
        ):
            if word[0].islower() and common:
                continue
            _add(found, m.start(), m.end(), "VILLE")


PARTICLES = frozenset(
    {"de", "du", "des", "la", "le", "d", "l", "saint", "sainte", "st", "ste", "van", "von", "der", "den", "ter", "ben",
     "bin", "ibn", "el", "al", "di", "da", "del", "della", "dos", "das"}
)


def _trim_proper(text: str, start: int, end: int, lexicon: frozenset[str]) -> int:
    """End of the proper name that starts at ``start``: cut at the first later word that is ordinary French."""
    last = start
    for k, m in enumerate(WORD.finditer(text, start, end)):
        word, key = m.group(), fold(m.group())
        if k and key not in PARTICLES and not word.isupper() and (key in lexicon or key in STOP):
            break
        last = m.end()
    return last


def _persons(text: str, found: list[Entity], lexicon: frozenset[str] | None) -> None:
    firsts, lasts = gazetteer("prenoms"), gazetteer("noms")
    words = [(m.start(), m.end(), m.group()) for m in WORD.finditer(text) if _free(found, m.start(), m.end())]
    index = {start: i for i, (start, _, _) in enumerate(words)}
    is_name: set[int] = set()
    titled: set[int] = set()  # first word after a title: a surname
    initials: set[int] = set()  # "J." before a name: a first name's initial
    common: frozenset[str] = lexicon or frozenset()
    mostly_first = gazetteer("prenoms_surtout")

    def first_like(key: str) -> bool:
        """Not a surname at all, or far more often a first name than a surname ("Gaston", not "Aubry")."""
        return key not in lasts or key in mostly_first

    def _initials(i: int) -> int:
        """How many words from ``i`` are a first name's initials ("J.", "P.-Y.") before a capitalised word."""
        start, _, word = words[i]
        m = INITIALS.match(text, start)
        if m is None or word == "M":  # "M." is a title
            return 0
        shown = len(WORD.findall(m.group()))
        return shown if i + shown < len(words) and words[i + shown][0] == m.end() else 0

    def _particle_before_name(i: int) -> bool:
        following = words[i + 1] if i + 1 < len(words) else None
        return (
            following is not None and following[2][0].isupper() and joined(i, i + 1, ("", "-"))
            and (not _stop(following[2]) or fold(following[2]) in PARTICLES) and not TITLES.match(text, following[0])
        )  # fmt: skip

    def known(word: str) -> bool:
        key = fold(word)
        return key in firsts or key in lasts

    def joined(i: int, j: int, gaps: tuple[str, ...] = ("", ",", "-")) -> bool:
        a, b = (words[i], words[j]) if i < j else (words[j], words[i])
        return abs(i - j) == 1 and text[a[1] : b[0]].strip() in gaps

    # A title or a context word names the next words (up to three) that are not ordinary French.
    for trigger, strict in ((TITLES, False), (CONTEXTS, True)):
        for m in trigger.finditer(text):
            i = index.get(m.end())
            taken = 0
            particles: list[int] = []  # names only if a name follows them
            while i is not None and i < len(words) and taken < 3:
                _, _, word = words[i]
                key = fold(word)
                if (taken or particles) and not joined(i - 1, i, ("", "-")):
                    break
                if not taken and not particles and (shown := _initials(i)):  # "M. J. Dupontel", "Dr P.-Y. Le Goff"
                    initials.update(range(i, i + shown))
                    i += shown
                    continue
                if key in PARTICLES and _particle_before_name(i):  # "Dr Van der Berghe", "Mme Le Goff"
                    particles.append(i)
                    i += 1
                    continue
                if len(word) == 1 or _stop(word):
                    break
                capital = word[0].isupper()
                if strict and not taken and capital and known(word):
                    pass
                elif strict or taken:
                    # a first name that is also a French word continues a name in its case ("Mme krajewski
                    # patrice"), not after a capitalised one ("Mme Blanc va bien")
                    same_case = capital or not taken or words[i - 1][2].islower()
                    if not (known(word) and (key not in common or (key in firsts and same_case))) and not (
                        capital and key not in common
                    ):
                        break
                elif key in common and not capital and (not known(word) or m.group()[0].islower()):
                    break  # "le docteur traitant", "madame est": a title in lower case needs a word no French one
                is_name.add(i)
                is_name.update(particles)
                if not taken and not strict:
                    titled.add(i)
                taken += 1
                particles = []
                i += 1
    if lexicon is not None:
        # Capitalised gazetteer words that are not ordinary French are names.
        for i, (_, _, word) in enumerate(words):
            key = fold(word)
            if len(word) >= 2 and not _stop(word) and known(word) and word[0].isupper() and key not in common:
                is_name.add(i)
        # The header of a note or a short line: words that are no ordinary French, one of them a gazetteer name.
        head: list[int] = []
        for i, (_, _, word) in enumerate(words):
            key = fold(word)
            if _stop(word) or (key in common and not known(word)) or (i and not joined(i - 1, i)) or i > 3:
                break
            head.append(i)
        if head and words[0][0] == len(text) - len(text.lstrip()):
            after = text[words[head[-1]][1] :].lstrip()
            closed = not after or not after[0].isalpha()
            strong = any(known(words[i][2]) and fold(words[i][2]) not in common for i in head)
            if (len(head) >= 2 and (strong or closed)) or (len(words) == 1 and known(words[0][2])):
                is_name.update(head)
        # Neighbours of a name: a gazetteer word that is no ordinary French (or is a first name), or a capitalised
        # word that is no ordinary French.
        changed = True
        while changed:
            changed = False
            for i, (_, _, word) in enumerate(words):
                key = fold(word)
                if i in is_name or len(word) < 2 or _stop(word):
                    continue
                if not any(j in is_name and joined(i, j) for j in (i - 1, i + 1)):
                    continue
                previous = fold(words[i - 1][2]) if i else ""
                after_first = (
                    i - 1 in is_name and text[words[i - 1][1] : words[i][0]] == " " and previous in firsts
                    and first_like(previous) and not words[i - 1][2].isupper() and word[0].isupper() and key in lasts
                )  # fmt: skip  # "Enzo Tavernier", "Pierre Boucher": a surname that is also a French word
                if (known(word) and (key not in common or (key in firsts and word[0].isupper()))) or (
                    word[0].isupper() and key not in common and not word.isupper()
                ) or after_first:
                    is_name.add(i)
                    changed = True
    # Runs of adjacent names: which are first names, then surnames joined into one span.
    runs: list[list[int]] = []
    for i in sorted(is_name):
        if runs and runs[-1][-1] == i - 1 and joined(i - 1, i):
            runs[-1].append(i)
        else:
            runs.append([i])
    for i in sorted(initials):
        _add(found, words[i][0], words[i][1] + 1, "PRENOM")
    for run in runs:
        label = {i: "NOM" for i in run}
        keys = {i: fold(words[i][2]) for i in run}

        # A particle and the word after it belong to the surname ("Dr ben Barka", "Mme de La Tour").
        candidates = [
            i for i in run
            if keys[i] in firsts and keys[i] not in PARTICLES and not (i - 1 in keys and keys[i - 1] in PARTICLES)
        ]  # fmt: skip
        if len(run) == 1:
            candidates = [i for i in candidates if i not in titled]
        if len(run) == 1:
            # a lone word that could be either: a first name if it looks like one, or if it is the whole note and
            # not in capitals (the capitals mark a surname: "AUBRY" alone is a surname, "Bernard" alone a first name)
            lone = len(words) == 1 and not words[run[0]][2].isupper()
            if candidates and not titled & set(run) and (first_like(keys[run[0]]) or lone):
                label[run[0]] = "PRENOM"
        elif candidates:
            only_first = [i for i in candidates if first_like(keys[i])]
            pool = only_first or candidates
            pool = [i for i in pool if i not in titled] or pool  # "Mme DURAND Paule": the titled word is the surname
            if len(pool) > 1:
                # "DURAND Paule": the word in lower case; "Paule Durand", "PAULE DURAND": the first (French order)
                lower = [i for i in pool if not words[i][2].isupper()]
                pool = lower if lower and len(lower) < len(pool) else pool[:1]
            if len(pool) == 1 and len(pool) < len(run):
                label[pool[0]] = "PRENOM"
        span: list[int] = []
        for i in [*run, -1]:
            if span and i >= 0 and label[i] == label[span[-1]] and text[words[span[-1]][1] : words[i][0]] in (" ", "-"):
                span.append(i)
                continue
            if span:
                _add(found, words[span[0]][0], words[span[-1]][1], label[span[0]])
            span = [i]


def _birth_after_name(text: str, found: list[Entity]) -> list[Entity]:
    """A date written right after a person's name ("HERREMAN, Alain, 24.3.40") is a birth date."""
    out = []
    ordered = sorted(found)
    for k, e in enumerate(ordered):
        if e.label == "DATE" and k and ordered[k - 1].label in ("NOM", "PRENOM"):
            gap = text[ordered[k - 1].end : e.start]
            if re.fullmatch(r"\s*,\s*", gap):
                e = Entity(e.start, e.end, "DATE_NAISSANCE")
        out.append(e)
    return out


def detect(text: str, lexicon: frozenset[str] | None = None, dates: Iterable[tuple[int, int]] = ()) -> list[Entity]:
    """Identifying spans of ``text``, sorted, not overlapping.

    ``lexicon`` holds ordinary French words (folded); without it names are found from context only.
    ``dates`` adds date spans found by another matcher (edsnlp's).
    """
    found: list[Entity] = []
    _numbers(text, found)
    _places(text, found, lexicon or frozenset())
    _dates(text, found, dates)
    _persons(text, found, lexicon)
    return sorted(_birth_after_name(text, found))
