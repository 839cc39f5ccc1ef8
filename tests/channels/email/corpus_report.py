"""`python -m tests.channels.email.corpus_report`: per-check pass counts of the parser over the corpora."""
import json
import sys

from channels.email import parse_message
from channels.email.model import JSON_KEYS
from channels.email.quotes import strip_quotes

from .checks import has_readable_text, stdlib_attachment_hashes, talon_expected, zammad_checks, zammad_pairs
from .corpus import CORPORA, message_files


def counts() -> dict[str, tuple[int, int]]:
    """Check name -> (passed, total)."""
    parsed = bodies = with_text = decoded = expected_hashes = 0
    files = message_files()
    for path in files:
        raw = path.read_bytes()
        try:
            result = parse_message(raw)
            parsed += tuple(json.loads(json.dumps(result.to_json()))) == JSON_KEYS
        except Exception:                                  # noqa: BLE001 (the report counts failures)
            continue
        if has_readable_text(raw):
            with_text += 1
            bodies += bool(result.body_text.strip())
        ours = {attachment.sha256 for attachment in result.attachments}
        hashes = stdlib_attachment_hashes(raw)
        expected_hashes += len(hashes)
        decoded += sum(digest in ours for digest in hashes)
    zammad = [ok for box, expected in zammad_pairs()
              for ok in zammad_checks(parse_message(box.read_bytes()), expected).values()]
    talon = talon_expected()
    replies = {path: parse_message(path.read_bytes()) for path in talon}
    return {
        "files parsed (no exception, exact JSON keys)": (parsed, len(files)),
        "bodies non-empty (of files with readable text)": (bodies, with_text),
        "attachments decoded (sha256 = stdlib's decode)": (decoded, expected_hashes),
        "Zammad expectations met": (sum(zammad), len(zammad)),
        "talon quote stripping matched": (sum(strip_quotes(r.body_text).rstrip() == talon[p].rstrip()
                                              for p, r in replies.items()), len(talon)),
        "talon reply_text == 'Hello'": (sum(r.reply_text == "Hello" for r in replies.values()), len(talon)),
    }


def main() -> int:
    """Write the figures to stdout."""
    sys.stdout.write(f"corpora: {CORPORA}\n")
    for check, (passed, total) in counts().items():
        sys.stdout.write(f"{passed:>4} / {total:<4} {check}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
