"""Document rules: which files are accepted (by their content), how names are cleaned, how long
a document stays valid, and what makes a set of documents complete.

The content decides, never the name or the declared type: the detected media type must be one
the document type allows, the file must start with that format's own signature (a Windows
executable with "%PDF" further in is not a PDF), and must not carry another format inside it
(polyglots: a PDF or an image that is also an archive, a page with scripts or an executable).
"""
from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable

from demandes.domain.forms import FormError, clean_text

# format key -> (media type libmagic reports, signature at offset 0, file extensions)
FORMATS: dict[str, tuple[str, bytes, tuple[str, ...]]] = {
    "pdf": ("application/pdf", b"%PDF-", (".pdf",)),
    "jpeg": ("image/jpeg", b"\xff\xd8\xff", (".jpg", ".jpeg")),
    "png": ("image/png", b"\x89PNG\r\n\x1a\n", (".png",)),
}
FORMAT_LABELS = {"pdf": "PDF", "jpeg": "JPEG", "png": "PNG"}
VALIDITIES = ("none", "months_3", "calendar_year", "school_year")
VALIDITY_LABELS = {"none": "sans date limite", "months_3": "moins de 3 mois",
                   "calendar_year": "de l'année en cours", "school_year": "de l'année scolaire"}
MAX_NAME = 255          # longer names are refused (file systems and headers choke on them)
MIN_FILE_BYTES = 16
MAX_FILES_PER_UPLOAD = 5

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]|%[01][0-9a-fA-F]|%7[fF]")  # raw or percent-encoded
_RESERVED = re.compile(r'[<>:"|?*]')

# Another format hidden in the file. Signatures are long enough that compressed image or PDF
# data does not hold them by chance (a 4-byte one would, in a few percent of 5 Mo photos).
_EMBEDDED = (
    (re.compile(rb"\x7fELF[\x01\x02][\x01\x02]\x01"), "un programme exécutable"),
    (re.compile(rb"This program cannot be run in DOS mode"), "un programme Windows"),
    (re.compile(rb"<script[\s>/]", re.IGNORECASE), "un script"),
    (re.compile(rb"<html[\s>]", re.IGNORECASE), "une page web"),
    (re.compile(rb"<\?php[\s]", re.IGNORECASE), "un script PHP"),
    (re.compile(rb"<svg[\s>][^>]{0,200}xmlns", re.IGNORECASE), "une image SVG"),
)
# A ZIP reader (JAR, Office, archive) finds its end-of-central-directory record in the last
# 65,557 bytes: a file that has one there opens as an archive.
_ZIP_END = b"PK\x05\x06"
_ZIP_TAIL = 65_557
# Actions a PDF reader runs by itself. Inside compressed object streams they are not visible
# here: ClamAV's PDF analysis is the second line.
_PDF_ACTIVE = (b"/JavaScript", b"/Launch", b"/EmbeddedFile", b"/RichMedia")


class DocumentRefused(Exception):
    """A file that cannot be accepted; `detail` is the French reason, naming the file."""

    def __init__(self, detail: str, status: int = 422):
        super().__init__(detail)
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class DocumentType:
    code: str
    label: str
    formats: tuple[str, ...]
    max_bytes: int
    validity: str = "none"
    per_child: bool = False

    def formats_label(self) -> str:
        return ", ".join(FORMAT_LABELS[f] for f in self.formats)


def check_document_type(data: Any, hard_cap: int) -> dict:
    """An agent's document type definition, cleaned, or FormError."""
    if not isinstance(data, dict):
        raise FormError({"body": "Un objet est attendu."})
    errors = {}
    code = data.get("code")
    if not isinstance(code, str) or not _KEY.match(code):
        errors["code"] = "Identifiant invalide : lettres minuscules, chiffres et « _ », 40 caractères au plus."
    try:
        label = clean_text(data.get("label"), 200)
        if not label:
            errors["label"] = "Le libellé est obligatoire."
    except ValueError as exc:
        errors["label"] = str(exc)
        label = None
    formats = data.get("formats")
    if (not isinstance(formats, list) or not formats or not all(f in FORMATS for f in formats)
            or len(set(formats)) != len(formats)):
        errors["formats"] = f"Choisissez un ou plusieurs formats parmi {', '.join(FORMATS)}."
    max_bytes = data.get("max_bytes")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or not 1024 <= max_bytes <= hard_cap:
        errors["max_bytes"] = f"La taille maximale est comprise entre 1 Ko et {human_size(hard_cap)}."
    validity = data.get("validity", "none")
    if validity not in VALIDITIES:
        errors["validity"] = f"Validité inconnue : choisissez parmi {', '.join(VALIDITIES)}."
    per_child = data.get("per_child", False)
    if not isinstance(per_child, bool):
        errors["per_child"] = "Oui ou non attendu."
    if errors:
        raise FormError(errors)
    return {"code": code, "label": label, "formats": list(formats), "max_bytes": max_bytes,
            "validity": validity, "per_child": per_child}


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} Mo".replace(".", ",")
    return f"{max(1, size // 1024)} Ko"


# --- names ------------------------------------------------------------------------------------
def clean_filename(name: Any) -> str:
    """The name shown for a file (never used as a path): refused when it holds a path, control
    characters or is too long; reserved characters replaced."""
    if not isinstance(name, str) or not name.strip():
        raise DocumentRefused("Le fichier n'a pas de nom.")
    if len(name) > MAX_NAME or len(name.encode("utf-8")) > MAX_NAME * 2:
        raise DocumentRefused(f"Le nom du fichier est trop long ({MAX_NAME} caractères au plus). Renommez-le.")
    if _CONTROL.search(name):
        raise DocumentRefused("Le nom du fichier contient des caractères de contrôle. Renommez-le.")
    if any(sep in name.lower() for sep in ("/", "\\", "%2f", "%5c")) or name.strip() in (".", ".."):
        raise DocumentRefused(f"Le nom du fichier « {_shown(name)} » contient un chemin : "
                              "envoyez le fichier seul, sans dossier.")
    cleaned = unicodedata.normalize("NFC", name).strip()
    cleaned = _RESERVED.sub("_", cleaned).lstrip(".") or "document"
    return cleaned


def _shown(name: str) -> str:
    return _CONTROL.sub("", name)[:60]


def extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


# --- content ------------------------------------------------------------------------------------
def check_content(name: str, content: bytes, detected_media_type: str, doc_type: DocumentType) -> str:
    """The format key of an acceptable file, or DocumentRefused naming the file and the reason."""
    size = len(content)
    if size > doc_type.max_bytes:
        raise DocumentRefused(f"« {name} » est trop volumineux ({human_size(size)}) : "
                              f"{human_size(doc_type.max_bytes)} au plus pour « {doc_type.label} ».", 413)
    if size < MIN_FILE_BYTES:
        raise DocumentRefused(f"« {name} » est vide ou illisible.")
    found = next((key for key, (media, _sig, _ext) in FORMATS.items() if media == detected_media_type), None)
    if found is None or found not in doc_type.formats or not content.startswith(FORMATS[found][1]):
        raise DocumentRefused(f"« {name} » n'est pas un fichier {doc_type.formats_label()} valide "
                              "(son contenu a été vérifié, pas seulement son nom).", 415)
    if extension(name) not in FORMATS[found][2]:
        raise DocumentRefused(f"Le nom de « {name} » ne correspond pas à son contenu ({FORMAT_LABELS[found]}) : "
                              f"renommez-le en {FORMATS[found][2][0]}.", 415)
    hidden = embedded_format(content, found)
    if hidden:
        raise DocumentRefused(f"« {name} » contient aussi {hidden} : ce fichier est refusé. "
                              "Enregistrez le document à nouveau (impression en PDF ou photo) puis réessayez.", 415)
    return found


def embedded_format(content: bytes, found: str) -> str | None:
    """What else the file is (a polyglot), or None."""
    for pattern, label in _EMBEDDED:
        if pattern.search(content):
            return label
    if _ZIP_END in content[-_ZIP_TAIL:]:
        return "une archive ZIP"
    if found != "pdf" and b"%PDF-" in content:
        return "un document PDF"
    if found == "pdf" and any(marker in content for marker in _PDF_ACTIVE):
        return "du contenu actif (script, lancement de programme ou fichier joint)"
    return None


# --- validity -----------------------------------------------------------------------------------
def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expires_on(validity: str, issued_on: date) -> date | None:
    """The last day a document issued on `issued_on` counts."""
    if validity == "months_3":
        return add_months(issued_on, 3)
    if validity == "calendar_year":
        return date(issued_on.year, 12, 31)
    if validity == "school_year":
        return date(issued_on.year + (1 if issued_on.month >= 9 else 0), 8, 31)
    return None


def check_issued_on(doc_type: DocumentType, issued_on: date | None, today: date) -> date:
    """The document's date (upload day when not given): not in the future, still valid today."""
    issued_on = issued_on or today
    if issued_on > today:
        raise DocumentRefused("La date du document ne peut pas être dans le futur.")
    end = expires_on(doc_type.validity, issued_on)
    if end is not None and end < today:
        raise DocumentRefused(f"Ce document n'est plus valable : « {doc_type.label} » doit être "
                              f"{VALIDITY_LABELS[doc_type.validity]}.")
    return issued_on


@dataclass(frozen=True)
class HeldDocument:
    id: str
    doc_type: str
    child_id: str | None
    expires_on: date | None


def missing_documents(required: Iterable[DocumentType], held: Iterable[HeldDocument], today: date,
                      child_id: str | None = None) -> list[dict]:
    """For each required type without a valid document: {doc_type, label, reason}. A per-child
    type needs a document about `child_id` when one is named."""
    held = list(held)
    out = []
    for doc_type in required:
        candidates = [d for d in held if d.doc_type == doc_type.code
                      and (not doc_type.per_child or child_id is None or d.child_id == child_id)]
        if any(d.expires_on is None or d.expires_on >= today for d in candidates):
            continue
        reason = "expired" if candidates else "missing"
        out.append({"doc_type": doc_type.code, "label": doc_type.label, "reason": reason,
                    "message": (f"« {doc_type.label} » n'est plus valable : ajoutez un document "
                                f"{VALIDITY_LABELS[doc_type.validity]}.") if candidates
                    else f"« {doc_type.label} » est à fournir."})
    return out
