"""The console's French: dates in words, names of profiles and purposes, refusals said as sentences.

Each refusal a page can meet is worded here from its class (and, for an access refusal, from the rule that
decided it, which is named); the record path's sentences are those of the catalogue (data/refusals.yaml, records),
the same the CLI and the API show, with the names of the profile and purpose added here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from santegarde import refusals
from santegarde.api.refusals import BodyTooLarge, OriginRefused
from santegarde.compassionate.forms import SubmissionRefused
from santegarde.compassionate.patient_code import InitialsError
from santegarde.compassionate.registry import UnknownProgramme
from santegarde.compassionate.service import IncompleteRequest, WorkflowRefused
from santegarde.crypto import DecryptionRefused
from santegarde.errors import SantegardeError
from santegarde.governance.vocabulary import VocabularyError, label
from santegarde.identity.errors import (
    AccountError,
    GrantError,
    LoginRefused,
    SessionLocked,
    SessionRefused,
    StepRequired,
)
from santegarde.identity.passwords import WeakPassword
from santegarde.identity.throttle import Blocked
from santegarde.identity.totp import InvalidCode
from santegarde.pharmacy import RegisterRefused
from santegarde.referentials.model import Referential
from santegarde.store.mapping import MappingError
from santegarde.store.service import BREAK_GLASS_MIN, AccessDenied, NotFound

PARIS = ZoneInfo("Europe/Paris")
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def fr_date(value: date | datetime | str | None) -> str:
    """``4 décembre 2026`` (``1er`` for the first of the month), with ``à 11 h 15`` (Paris time) for an instant; a
    FHIR date string is read first."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        written = value
        try:
            value = datetime.fromisoformat(written) if "T" in written else date.fromisoformat(written)
        except ValueError:
            return written  # a partial FHIR date (2026 or 2026-12) is shown as written
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(PARIS)  # the desk reads the time of metropolitan France
    day = "1er" if value.day == 1 else str(value.day)
    text = f"{day} {MONTHS[value.month - 1]} {value.year}"
    if isinstance(value, datetime):
        text += f" à {value.hour} h {value.minute:02d}"
    return text


EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def date_in(value: date | datetime | str | None, lang: str) -> str:
    """A date in the page's language: ``4 décembre 2026 à 11 h 15`` (French), ``4 December 2026 at 11:15``
    (English), Paris time for an instant."""
    if lang != "en":
        return fr_date(value)
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(PARIS)
    text = f"{value.day} {EN_MONTHS[value.month - 1]} {value.year}"
    if isinstance(value, datetime):
        text += f" at {value.hour}:{value.minute:02d}"
    return text


def number_in(value: float | int, lang: str) -> str:
    """``61,5`` in French, ``61.5`` in English."""
    return f"{value:,}" if lang == "en" else fr_number(value)


def fr_number(value: float | int) -> str:
    """``61,5``: the decimal comma, a narrow space between thousands."""
    text = f"{value:,}".replace(",", "\u202f").replace(".", ",")
    return text


def name(ref: Referential, kind: str, item_id: str | None) -> str:
    """The French name of a profile (accessor), purpose or category; the identifier if the text has none."""
    if not item_id:
        return "—"
    try:
        return label(ref, kind, item_id, "fr")
    except VocabularyError:
        return item_id


DISPENSE_CLASSES = {
    "list_i": "Liste I",
    "list_ii": "Liste II",
    "narcotic": "Stupéfiant",
    "blood_derived": "Médicament dérivé du sang",
    "preparation": "Préparation magistrale ou officinale",
    "toxic_substance": "Substance très toxique, toxique ou CMR (usage non thérapeutique)",
    "other": "Autre produit",
}
REGISTERS = {
    "prescription_book": "l'ordonnancier",
    "blood_derived_register": "le registre des médicaments dérivés du sang",
    "toxic_substances_register": "le registre des substances toxiques",
}
# store.service.CARE_BASES in the desk's words (a test checks both lists hold the same codes).
CARE_BASES = {
    "consultation": "Le patient me consulte",
    "referral": "Le patient m'est adressé par un autre professionnel",
    "replacement": "Je remplace le praticien habituel du patient",
    "care_team": "J'appartiens à l'équipe de soins du patient (art. L. 1110-12 CSP)",
    "home_visit": "Visite à domicile ou en établissement",
}
GENDER = {"female": "féminin", "male": "masculin", "other": "autre", "unknown": "inconnu"}


class Refusal:
    """A refusal as the page shows it: a title, what happened, what to do, and the rule that decided."""

    def __init__(self, title: str, what: str, todo: str, status: int, rule: str = "", section: str = "") -> None:
        self.title = title
        self.what = what
        self.todo = todo
        self.status = status
        self.rule = rule
        self.section = section


def refusal(exc: SantegardeError, ref: Referential, profile: str | None = None, purpose: str | None = None) -> Refusal:
    """The French words for a refusal met by a page (never the English sentence, never a trace)."""
    if isinstance(exc, AccessDenied):
        return _access(exc, ref, profile, purpose)
    if isinstance(exc, RegisterRefused):
        return Refusal(
            "Enregistrement refusé",
            "Le registre refuse cette délivrance (droits du profil, finalité, ou durée de conservation non encore "
            "fixée par le responsable pour cette catégorie).",
            "Choisissez une autre catégorie si elle a été mal choisie, sinon adressez-vous au pharmacien titulaire.",
            403,
            "PHA-3",
            "7.1",
        )
    if isinstance(exc, WorkflowRefused | SubmissionRefused | InitialsError | UnknownProgramme | IncompleteRequest):
        return _compassionate(exc)
    if isinstance(exc, NotFound):  # the store's own French sentence (data/refusals.yaml, records)
        return Refusal(
            "Dossier introuvable",
            exc.in_language("fr"),
            "Recherchez le patient depuis l'accueil ; le lien a peut-être été mal recopié.",
            404,
        )
    if isinstance(exc, Blocked):
        return Refusal(
            "Connexion temporairement bloquée",
            "Trop d'essais infructueux ont été faits depuis ce poste ou pour cet identifiant.",
            f"Réessayez après le {fr_date(exc.until)} (heure UTC), ou adressez-vous à votre administrateur.",
            429,
        )
    if isinstance(exc, LoginRefused):
        return Refusal(
            "Connexion refusée",
            "L'identifiant ou le mot de passe n'est pas correct.",
            "Vérifiez-les et réessayez ; après plusieurs échecs, la connexion est bloquée un moment.",
            401,
        )
    if isinstance(exc, InvalidCode):
        return Refusal(
            "Code refusé",
            "Ce code n'est pas valide ou a déjà servi.",
            "Saisissez le code à six chiffres affiché maintenant par votre application d'authentification.",
            401,
        )
    if isinstance(exc, WeakPassword):
        return Refusal(
            "Mot de passe trop faible",
            "Ce mot de passe ne respecte pas la politique de l'organisation (longueur et variété des caractères).",
            "Choisissez au moins 12 caractères mêlant majuscules, minuscules, chiffres et signes, ou une longue "
            "phrase de passe.",
            422,
        )
    if isinstance(exc, SessionLocked):
        return Refusal(
            "Session verrouillée",
            "Votre session s'est verrouillée après une période d'inactivité.",
            "Saisissez votre mot de passe pour reprendre où vous en étiez.",
            423,
        )
    if isinstance(exc, SessionRefused):
        return Refusal(
            "Session terminée",
            "Vous n'êtes pas connecté, ou votre session a expiré ou a pris fin.",
            "Connectez-vous de nouveau.",
            401,
        )
    if isinstance(exc, StepRequired):
        return Refusal(
            "Étape à terminer",
            "Une étape de connexion reste à faire avant d'accéder aux données.",
            "Terminez-la : la page suivante vous y conduit.",
            403,
        )
    if isinstance(exc, GrantError):
        return Refusal(
            "Profil non autorisé",
            "Vous ne détenez pas d'habilitation active pour ce profil.",
            "Choisissez un profil de la liste, ou demandez une habilitation à la personne qui les valide.",
            403,
        )
    if isinstance(exc, AccountError):
        return Refusal(
            "Demande refusée",
            "Votre compte ne permet pas cette opération dans son état actuel.",
            "Adressez-vous à votre administrateur.",
            400,
        )
    if isinstance(exc, MappingError):
        return Refusal(
            "Demande incomplète",
            "La recherche ou le lien ne contient pas ce qu'il faut.",
            "Renseignez au moins un critère (nom, prénom, date de naissance ou INS) et recommencez.",
            400,
        )
    if type(exc).__name__ == "CsrfRefused":
        return Refusal(
            "Formulaire expiré",
            "Ce formulaire ne provient pas d'une page de la console ouverte dans ce navigateur, ou il a expiré.",
            "Rechargez la page, puis envoyez le formulaire de nouveau.",
            403,
        )
    if isinstance(exc, OriginRefused):
        return Refusal(
            "Envoi refusé",
            "Ce formulaire a été envoyé depuis un autre site que la console.",
            "Rouvrez la page depuis la console et envoyez-le de nouveau.",
            403,
        )
    if isinstance(exc, BodyTooLarge):
        return Refusal("Envoi trop volumineux", "Le formulaire dépasse la taille acceptée.", "Raccourcissez-le.", 413)
    if isinstance(exc, DecryptionRefused):
        return Refusal(
            "Données illisibles",
            "Ces données n'ont pas pu être déchiffrées (clé retirée ou données altérées).",
            "Signalez-le à votre administrateur ; rien n'a été modifié.",
            409,
        )
    return Refusal("Demande refusée", "La demande n'a pas pu aboutir.", "Revenez à l'accueil et réessayez.", 400)


def _compassionate(exc: SantegardeError) -> Refusal:
    if isinstance(exc, WorkflowRefused) and exc.rule == "AAC-3.programme_status":
        return Refusal(
            "Programme fermé aux nouveaux formulaires",
            "La décision de l'ANSM ne couvre plus ce programme (expirée, suspendue ou pas encore en vigueur) : il "
            "n'accepte plus de demande, de décision, d'initiation ni de suivi ; l'arrêt du traitement et les effets "
            "indésirables restent déclarés.",
            "Le laboratoire enregistre la nouvelle décision de l'ANSM dans une nouvelle version du protocole ; rien "
            "n'a été enregistré.",
            409,
            exc.rule,
            "3",
        )
    if isinstance(exc, WorkflowRefused):
        return Refusal(
            "Formulaire hors de son tour",
            "Le protocole n'attend pas ce formulaire à cette étape du dossier : la demande d'accès précède la décision "
            "du laboratoire, l'initiation suit l'accord, le suivi, l'arrêt et la déclaration d'une personne de "
            "l'entourage supposent un patient sous traitement, et seul le laboratoire décide d'un accès.",
            "Consultez l'étape du dossier ci-dessous et remplissez le formulaire qu'elle attend ; rien n'a été "
            "enregistré.",
            409,
            exc.rule,
            "5.2",
        )
    if isinstance(exc, UnknownProgramme):
        return Refusal(
            "Programme inconnu",
            "Aucun programme d'accès compassionnel enregistré ne porte ce nom.",
            "Revenez à la liste des programmes et choisissez-en un.",
            404,
        )
    if isinstance(exc, IncompleteRequest):
        return Refusal(
            "Demande incomplète",
            "Le dossier du patient a été créé, mais le formulaire de demande d'accès n'a pas été enregistré.",
            "Ouvrez le dossier depuis la liste des patients du programme et remplissez de nouveau la demande d'accès.",
            409,
            "AAC-3",
            "5.2",
        )
    return Refusal(
        "Formulaire refusé",
        "Une réponse ne correspond pas au formulaire du protocole (les formulaires n'acceptent que des valeurs "
        "codées, sans saisie libre) ; rien n'a été enregistré.",
        "Corrigez les champs signalés et envoyez le formulaire de nouveau.",
        422,
        getattr(exc, "rule", "AAC-7"),
        "7.3",
    )


def fr_amount(value: float | int) -> str:
    """``20`` for 20.0, ``61,5`` for 61.5: a bound or an answer as written, without a useless decimal."""
    return fr_number(int(value) if float(value).is_integer() else value)


def unit_words(unit: str | None) -> str:
    """A UCUM unit as the desk reads it (an annotation such as ``{score}`` has no unit to show)."""
    return "" if not unit or unit.startswith("{") else unit


def field_error(exc: SubmissionRefused | InitialsError, field: Any = None) -> str:
    """The French sentence shown next to a field of a compassionate-access form."""
    if isinstance(exc, InitialsError):
        return "Ce nom ne contient aucune lettre dont tirer les initiales : saisissez-le tel qu'il est écrit."
    reason = exc.reason
    if reason in ("number", "integer", "bounds") and field is not None:
        unit = unit_words(field.unit)
        bounds = f"entre {fr_amount(field.min)} et {fr_amount(field.max)}{' ' + unit if unit else ''}"
        kind = "un nombre entier" if field.integer else "un nombre"
        if reason == "bounds":
            return f"Cette valeur est hors des bornes du protocole : saisissez {kind} {bounds}."
        return f"Saisissez {kind} {bounds}."
    return FIELD_ERRORS.get(reason, "Cette réponse n'est pas acceptée par le protocole : corrigez-la.")


FIELD_ERRORS = {
    "required": "Ce champ est obligatoire.",
    "choice": "Choisissez une valeur de la liste.",
    "date": "Saisissez une date complète (jour, mois et année).",
    "future": "Cette date est dans le futur : indiquez la date à laquelle c'est arrivé.",
    "boolean": "Répondez oui ou non.",
    "nir": "Un NIR ou un INS ne doit figurer nulle part (§7.2) : retirez-le ; le patient est identifié par son code.",
    "birth": "Indiquez le mois et l'année de naissance (la date complète n'est demandée que pour un enfant, si le "
    "protocole le prévoit), sans date future.",
    "establishment": "Indiquez l'identifiant de l'établissement (lettres, chiffres, tirets ou points).",
}
CASE_STATUS = {
    "requested": "demande en attente de la décision du laboratoire",
    "granted": "accès accordé, traitement à initier",
    "refused": "accès refusé",
    "treated": "patient sous traitement",
    "stopped": "traitement arrêté",
}
PROGRAMME_STATUS = {
    "active": "en vigueur",
    "not_granted_yet": "pas encore en vigueur",
    "expired": "décision expirée",
    "suspended": "suspendu ou retiré par l'ANSM",
}


def _access(exc: AccessDenied, ref: Referential, profile: str | None, purpose: str | None) -> Refusal:
    who = name(ref, "accessor", profile)
    why = name(ref, "purpose", purpose)
    if exc.rule == "AAC-8.case":
        return Refusal(
            "Dossier non accessible",
            "Ce dossier d'accès compassionnel ne vous est pas ouvert : le personnel d'un établissement ne voit que "
            "les patients qu'il prend en charge, les profils du laboratoire ce que le référentiel leur accorde (§8).",
            "Si vous prenez ce patient en charge, déclarez la relation de soin ; l'essai a été tracé.",
            403,
            exc.rule,
            exc.section,
        )
    if exc.rule.endswith(".care_relationship"):
        return Refusal(
            "Pas de relation de soin",
            refusals.sentences("records", "no_care")["fr"],
            refusals.sentences("records", "no_care_todo", min=BREAK_GLASS_MIN)["fr"],
            403,
            exc.rule,
            exc.section,
        )
    if exc.rule.startswith("COM-RGT-1.objection"):
        return Refusal(
            "Opposition du patient",
            refusals.sentences("records", "objected", why=f"la finalité « {why} »", since="", number="")["fr"],
            refusals.sentences("records", "objected_todo")["fr"],
            403,
            exc.rule,
            exc.section,
        )
    return Refusal(
        "Accès refusé",
        f"Le profil « {who} » ne peut pas consulter ces données pour la finalité « {why} » : le référentiel "
        "ne l'y autorise pas.",
        "Si le patient doit être vu, adressez-vous à un professionnel de santé de l'équipe ; l'essai a été tracé.",
        403,
        exc.rule,
        exc.section,
    )


def referential_name(ref: Referential) -> str:
    """The référentiel's French name (its English title only if the vocabulary has none)."""
    try:
        return label(ref, "referential", ref.id, "fr")
    except VocabularyError:
        return ref.title


def section_label(ref: Referential, section: str) -> str:
    named = f"référentiel « {referential_name(ref)} »"
    return f"section {section} du {named}" if section else named


def codeable(concept: Any) -> str:
    """A CodeableConcept in words: its text, else its first coding's display, else its code."""
    if not isinstance(concept, dict):
        return "—"
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding.get("code"))
    return "—"
