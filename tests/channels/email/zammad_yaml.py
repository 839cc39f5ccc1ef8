"""A reader for the YAML subset of Zammad's expectation files (PyYAML is not a project dependency).

Covers what those files use: block mappings and sequences, `!ruby/...` tags (read as plain mappings),
`|`/`|-` block scalars, single- and double-quoted scalars folded over several lines, and plain scalars.
"""
import re

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "/": "/", " ": " ", "0": "\0", "e": "\x1b",
           "a": "\a", "b": "\b", "f": "\f", "v": "\v", "N": "\x85", "_": "\xa0"}


def load(text: str):
    """The document in `text` as dicts, lists, strings and booleans."""
    lines = [line for line in text.split("\n") if not line.startswith("---")]
    return _Reader(lines).block(0)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


class _Reader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.pos = 0

    def _skip_blank(self) -> None:
        while self.pos < len(self.lines) and not self.lines[self.pos].strip():
            self.pos += 1

    def block(self, indent: int):
        self._skip_blank()
        if self.pos < len(self.lines) and self.lines[self.pos].lstrip().startswith("- "):
            return self.sequence(_indent(self.lines[self.pos]))
        return self.mapping(indent)

    def sequence(self, indent: int) -> list:
        items = []
        while True:
            self._skip_blank()
            if self.pos >= len(self.lines) or _indent(self.lines[self.pos]) != indent \
                    or not self.lines[self.pos].lstrip().startswith("- "):
                return items
            rest = self.lines[self.pos].strip()[2:]
            if rest.startswith("!ruby/") or not rest:
                self.pos += 1
            else:
                self.lines[self.pos] = " " * (indent + 2) + rest
            items.append(self.mapping(indent + 2))

    def mapping(self, indent: int) -> dict:
        found = {}
        while True:
            self._skip_blank()
            if self.pos >= len(self.lines):
                return found
            line = self.lines[self.pos]
            if _indent(line) != indent or line.lstrip().startswith("- "):
                return found
            key, _, rest = line.strip().partition(":")
            self.pos += 1
            found[key.strip("'\"")] = self.value(rest.strip(), indent)

    def value(self, rest: str, indent: int):
        if not rest or rest.startswith("!ruby/"):
            self._skip_blank()
            child = _indent(self.lines[self.pos]) if self.pos < len(self.lines) else indent
            starts_list = self.pos < len(self.lines) and self.lines[self.pos].lstrip().startswith("- ")
            return self.block(child) if child > indent or starts_list else None
        if rest in ("|", "|-", "|+"):
            return self.literal(rest, indent)
        if rest[0] in "'\"":
            return self.quoted(rest, indent)
        return self.plain(rest, indent)

    def _continuation(self, indent: int) -> list[str]:
        taken = []
        while self.pos < len(self.lines) and (not self.lines[self.pos].strip()
                                               or _indent(self.lines[self.pos]) > indent):
            taken.append(self.lines[self.pos])
            self.pos += 1
        return taken

    def literal(self, style: str, indent: int) -> str:
        taken = self._continuation(indent)
        while taken and not taken[-1].strip():
            taken.pop()
        width = min((_indent(line) for line in taken if line.strip()), default=indent + 2)
        text = "\n".join(line[width:] for line in taken)
        return text if style == "|-" else text + "\n"

    def plain(self, first: str, indent: int):
        text = " ".join([first] + [line.strip() for line in self._continuation(indent) if line.strip()])
        return {"true": True, "false": False, "''": ""}.get(text, text)

    def quoted(self, first: str, indent: int) -> str:
        quote = first[0]
        pieces = [first[1:]]
        while not _closed(pieces[-1] if len(pieces) > 1 else first[1:], quote) and self.pos < len(self.lines):
            pieces.append(self.lines[self.pos].strip())
            self.pos += 1
        pieces[-1] = pieces[-1][:pieces[-1].rstrip().rfind(quote)]
        return _unescape(_fold(pieces, quote), quote)


def _closed(text: str, quote: str) -> bool:
    body = text.rstrip()
    if quote == "'":
        return bool(re.search(r"(?<!')(?:'')*'$", body)) and bool(body)
    return bool(re.search(r'(?<!\\)(?:\\\\)*"$', body))


def _fold(pieces: list[str], quote: str) -> str:
    out = pieces[0].rstrip(" ") if len(pieces) > 1 else pieces[0]
    breaks = 0
    for piece in pieces[1:]:
        if not piece:
            breaks += 1
            continue
        if quote == '"' and re.search(r"(?<!\\)(?:\\\\)*\\$", out) and not breaks:
            out = out[:-1] + piece
        else:
            out += ("\n" * breaks if breaks else " ") + piece
        breaks = 0
    return out


def _unescape(text: str, quote: str) -> str:
    if quote == "'":
        return text.replace("''", "'")
    return re.sub(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)",
                  lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) > 1 else ESCAPES.get(m.group(1),
                                                                                               m.group(1)),
                  text)
