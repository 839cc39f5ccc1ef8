"""Language of a message's text: a best guess with py3langid, or None when there is too little text."""
import logging
import re

log = logging.getLogger(__name__)

MIN_LETTERS = 20
SAMPLE_CHARS = 4000


def guess_language(text: str) -> str | None:
    """ISO 639-1 code of `text`'s language, or None for text with fewer than MIN_LETTERS letters."""
    sample = text[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return None
    from py3langid import classify            # loads its model on first use; kept off the import path
    code, _score = classify(re.sub(r"\s+", " ", sample))
    return code or None
