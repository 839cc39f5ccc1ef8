"""Language of a message's text: a best guess with py3langid, or None when there is too little text."""
import logging

log = logging.getLogger(__name__)

MIN_LETTERS = 20
# The guess costs time in proportion to the text; a thousand characters of the reply already settle it, and
# the parser passes the reply text (not the quoted history) whenever there is one.
SAMPLE_CHARS = 1000


def guess_language(text: str) -> str | None:
    """ISO 639-1 code of `text`'s language, or None for text with fewer than MIN_LETTERS letters. Pure."""
    sample = text[:SAMPLE_CHARS]
    if sum(map(str.isalpha, sample)) < MIN_LETTERS:
        return None
    from py3langid import classify            # loads its model on first use; kept off the import path
    code, _score = classify(" ".join(sample.split()))
    return code or None


def load_model() -> None:
    """Load the language model now (about a second) rather than in the first message's parse: for a worker
    at start-up, so that its first batch is not the slow one."""
    guess_language("a sentence of text long enough to be worth a guess")
