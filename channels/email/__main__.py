"""`python -m channels.email FILE|-`: print one parsed message as a JSON object (exit 0 for any message)."""
import argparse
import json
import sys

from .parser import parse_message


def main(argv: list[str] | None = None) -> int:
    """Parse FILE (or stdin for '-') and write its JSON to stdout. Returns 1 for empty input."""
    args = argparse.ArgumentParser(prog="python -m channels.email", description=__doc__)
    args.add_argument("file", help="a raw RFC 5322 message, or - for stdin")
    path = args.parse_args(argv).file
    try:
        raw = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
    except OSError as error:
        sys.stderr.write(f"cannot read {path}: {error.strerror}\n")
        return 2
    if not raw.strip():
        sys.stderr.write("not a message: the input is empty\n")
        return 1
    sys.stdout.write(json.dumps(parse_message(raw).to_json(), ensure_ascii=False, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
