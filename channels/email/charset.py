"""Turning bytes of a declared (or undeclared, or wrong) charset into text, recording what was repaired."""
import codecs
import logging

from charset_normalizer import from_bytes

log = logging.getLogger(__name__)

# Names seen in real mail that Python does not know, or knows as a narrower charset than senders use.
ALIASES = {
    "ks_c_5601-1987": "cp949", "ks_c_5601-1989": "cp949", "ks_c_5601": "cp949", "ksc5601": "cp949",
    "ksc_5601": "cp949", "euc-kr": "cp949",
    "unicode-1-1-utf-7": "utf-7", "x-unicode-1-1-utf-7": "utf-7",
    "iso-8859-8-i": "iso-8859-8", "iso-8859-8-e": "iso-8859-8", "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6", "logical": "iso-8859-8", "visual": "iso-8859-8",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "x-euc-cn": "gb18030",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "x-mac-japanese": "cp932",
    "iso-2022-jp": "iso2022_jp_ext", "windows-874": "cp874", "x-mac-roman": "mac_roman",
    "x-user-defined": "cp1252", "ansi_x3.4-1968": "ascii", "us-ascii": "ascii", "iso-8859-1": "cp1252",
    "latin1": "cp1252", "latin-1": "cp1252", "iso8859-1": "cp1252", "iso_8859-1": "cp1252",
}
# Labels that say "we do not know": decoded as if undeclared.
UNKNOWN = {"", "x-unknown", "unknown", "unknown-8bit", "x-unknown-8bit", "default", "charset", "none",
           "7bit", "8bit"}
# When the first candidate fails strictly, these are tried before detection.
SECOND_CHOICE = {"cp1252": "latin-1", "ascii": "utf-8", "cp949": "euc-kr", "cp932": "shift_jis",
                 "iso2022_jp_ext": "iso2022_jp_2"}
DETECT_SAMPLE = 64 * 1024


def codec_name(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when the label is empty, unknown or unusable."""
    name = (label or "").strip().strip("\"'").lower()
    if name in UNKNOWN:
        return None
    name = ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # Codecs such as rot13 or base64 are not text charsets: a sender cannot mean them.
    return None if not getattr(info, "_is_text_encoding", True) else info.name


def decode_bytes(data: bytes, label: str | None, defects: list[str], where: str) -> str:
    """Decode `data`: declared charset, then detection, then UTF-8 with U+FFFD. Never raises.

    Each step past the declared charset appends a defect naming `where` (e.g. "body part 1.2").
    """
    if not data:
        return ""
    declared = codec_name(label)
    if label and label.strip().strip("\"'") and declared is None and label.strip().lower() not in UNKNOWN:
        defects.append(f"{where}: unknown charset {label.strip()[:40]!r}; charset guessed instead")
    candidates = [declared, SECOND_CHOICE.get(declared)] if declared else ["ascii", "utf-8"]
    for codec in filter(None, candidates):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    if declared and declared != "ascii":
        defects.append(f"{where}: bytes are not valid {label.strip()[:40]}; charset guessed instead")
    return _decode_detected(data, defects, where)


def _decode_detected(data: bytes, defects: list[str], where: str) -> str:
    best = from_bytes(data[:DETECT_SAMPLE]).best()
    if best is not None and best.encoding:
        defects.append(f"{where}: decoded as detected charset {best.encoding}")
        return data.decode(best.encoding, errors="replace")
    defects.append(f"{where}: charset undetectable; decoded as UTF-8 with replacement characters")
    return data.decode("utf-8", errors="replace")

