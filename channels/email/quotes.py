"""The new part of a reply: quoted earlier messages and the signature removed from plain text."""
import re

MAX_LINES = 20_000                # beyond this the tail is almost surely quoted history; it is not scanned
ATTRIBUTION_LOOKBACK = 3

WROTE = (r"wrote|writes|schrieb|schreibt|escribió|escribio|a écrit|a ecrit|ha scritto|scrisse|schreef|"
         r"skrev|kirjoitti|napisał|napsal|написал|написала|написав|escreveu|írta|yazdı")
ON_WROTE = re.compile(rf"^\s*(?:On|Am|El|Le|Il|Op|Den|Em|W dniu|Dne|Le|Il giorno)\b.{{0,400}}(?:{WROTE})\s*:?\s*$",
                      re.IGNORECASE)
ENDS_WROTE = re.compile(rf"(?:{WROTE})\s*:\s*$", re.IGNORECASE)
ORIGINAL_MESSAGE = re.compile(
    r"^\s*[-_=*]{2,}\s*(?:Original Message|Original-Nachricht|Ursprüngliche Nachricht|Mensaje original|"
    r"Messaggio originale|Message d'origine|Message original|Oorspronkelijk bericht|Mensagem original|"
    r"Originalmeddelande|Исходное сообщение)\s*[-_=*]{2,}\s*$", re.IGNORECASE)
OUTLOOK_FROM = re.compile(r"^\s*\*?(?:From|Von|De|Da|Van|Från|От)\s*:\*?\s+\S", re.IGNORECASE)
OUTLOOK_SENT = re.compile(r"^\s*\*?(?:Sent|Date|Gesendet|Datum|Enviado|Enviada|Fecha|Inviato|Data|Envoyé|"
                          r"Verzonden|Skickat|Отправлено|To|An|Para|A|À|Subject|Betreff|Asunto|Oggetto|"
                          r"Objet)\s*:\*?", re.IGNORECASE)
UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
SIGNATURE_DASHES = re.compile(r"^-- ?$")
MOBILE_SIGNATURE = re.compile(
    r"^\s*(?:Sent from my \w+|Sent from (?:Yahoo Mail|Mail for Windows|Outlook)\b.*|Get Outlook for \w+.*|"
    r"Von meinem \w+ gesendet|Gesendet von meinem \w+.*|Enviado desde mi \w+.*|Inviato da(?:l mio)? \w+.*|"
    r"Envoyé de mon \w+.*|Sent with \w+.*)\s*$", re.IGNORECASE)


def reply_text(text: str) -> str:
    """The new text of a message: quotes removed, then the signature."""
    return strip_signature(strip_quotes(text))


def strip_quotes(text: str) -> str:
    """`text` without quoted history: '>' blocks with their attribution line, and everything after an
    'Original Message' or Outlook-style header block. Bottom-posted replies keep their new text."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:MAX_LINES]
    cut = _history_start(lines)
    lines = lines[:cut]
    quoted = _quoted_lines(lines)
    kept = [line for index, line in enumerate(lines) if index not in quoted]
    return "\n".join(kept).strip("\n").rstrip()


def _history_start(lines: list[str]) -> int:
    """Index of the first line of an unquoted forwarded history block, or len(lines)."""
    for index, line in enumerate(lines):
        if ORIGINAL_MESSAGE.match(line):
            return index
        if OUTLOOK_FROM.match(line) and _followed_by_header(lines, index):
            return index - 1 if index and UNDERSCORES.match(lines[index - 1]) else index
        if _is_attribution(lines, index) and not _next_is_quote(lines, index):
            return index
    return len(lines)


def _followed_by_header(lines: list[str], index: int) -> bool:
    following = [line for line in lines[index + 1:index + 5] if line.strip()]
    return sum(bool(OUTLOOK_SENT.match(line)) for line in following) >= 2


def _is_attribution(lines: list[str], index: int) -> bool:
    """An "On <date>, <name> wrote:" line, possibly wrapped over up to three lines."""
    line = lines[index]
    if not line.strip() or line.lstrip().startswith(">"):
        return False
    if ON_WROTE.match(line):
        return True
    joined = " ".join(part.strip() for part in lines[index:index + ATTRIBUTION_LOOKBACK])
    return bool(ON_WROTE.match(joined)) and any(ENDS_WROTE.search(part) for part in
                                                lines[index + 1:index + ATTRIBUTION_LOOKBACK])


def _next_is_quote(lines: list[str], index: int) -> bool:
    for line in lines[index + 1:index + 1 + ATTRIBUTION_LOOKBACK + 1]:
        if line.lstrip().startswith(">"):
            return True
    return False


def _quoted_lines(lines: list[str]) -> set[int]:
    """Indexes of '>' lines and of the attribution lines (ending in ':') just above each '>' block."""
    quoted: set[int] = set()
    for index, line in enumerate(lines):
        if not line.lstrip().startswith(">"):
            continue
        quoted.add(index)
        if index and (index - 1) in quoted:
            continue
        quoted |= _attribution_above(lines, index)
    return quoted


def _attribution_above(lines: list[str], index: int) -> set[int]:
    """The "... wrote:" lines (up to three, ending in ':') above the '>' block starting at `index`."""
    end = index - 1
    if end >= 0 and not lines[end].strip():
        end -= 1
    if end < 0 or not lines[end].rstrip().endswith(":"):
        return set()
    top = end
    for candidate in range(end - 1, max(-1, end - ATTRIBUTION_LOOKBACK), -1):
        if not lines[candidate].strip():
            break
        if _starts_attribution(lines[candidate]):
            top = candidate
    return set(range(top, index))


def _starts_attribution(line: str) -> bool:
    return bool(re.match(r"^\s*(?:On|Am|El|Le|Il|Op|Den|Em|W dniu|\d{1,4}[./-]\d)", line, re.IGNORECASE))


def strip_signature(text: str) -> str:
    """`text` without a trailing signature: from a '-- ' line, or a trailing "Sent from my ..." line."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if index and SIGNATURE_DASHES.match(line):
            lines = lines[:index]
            break
    while lines and (not lines[-1].strip() or MOBILE_SIGNATURE.match(lines[-1])):
        lines.pop()
    return "\n".join(lines).rstrip()
