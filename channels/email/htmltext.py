"""HTML bodies: sanitised for display (nh3) and flattened to plain text (stdlib html.parser)."""
import logging
import re
from html.parser import HTMLParser

import nh3

log = logging.getLogger(__name__)

BLOCK_TAGS = {"address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset",
              "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
              "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr",
              "ul", "title"}
DROPPED_TAGS = {"script", "style", "head", "template", "noscript", "object", "iframe", "svg"}
SPACES = re.compile(r"[ \t\r\n\f\u200b]+")
BLANK_RUNS = re.compile(r"\n{3,}")
URL_SCHEMES = set(nh3.ALLOWED_URL_SCHEMES) | {"cid"}     # cid: inline images, resolved by the viewer


def sanitise_html(html: str) -> str:
    """`html` with scripts, styles, event handlers and unsafe URLs removed (nh3 defaults plus cid:)."""
    return nh3.clean(html, url_schemes=URL_SCHEMES)


def html_to_text(html: str) -> str:
    """Readable text of `html`: block elements end lines, blockquotes become '> ' lines, entities decoded."""
    parser = _TextCollector()
    try:
        parser.feed(html)
        parser.close()
    except Exception:                                  # noqa: BLE001 (html.parser asserts on some junk)
        log.warning("html.parser gave up; partial text kept")
    return parser.text()


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.dropped = 0
        self.quote_depth = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in DROPPED_TAGS:
            self.dropped += 1
        elif tag == "br":
            self._end_line(force=True)
        elif tag in BLOCK_TAGS:
            self._end_line()
            self.quote_depth += tag == "blockquote"
            self.pre += tag == "pre"
        elif tag in ("td", "th") and self.current:
            self.current.append(" ")
        elif tag == "img" and not self.dropped:
            alt = dict(attrs).get("alt")
            if alt:
                self.current.append(alt)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in DROPPED_TAGS:
            return
        self.handle_starttag(tag, attrs)
        if tag in BLOCK_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_TAGS:
            self.dropped = max(0, self.dropped - 1)
        elif tag in BLOCK_TAGS:
            self._end_line()
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.dropped:
            return
        if self.pre:
            head, *rest = data.split("\n")
            self.current.append(head)
            for line in rest:
                self._end_line(force=True)
                self.current.append(line)
            return
        self.current.append(SPACES.sub(" ", data))

    def _end_line(self, force: bool = False) -> None:
        line = "".join(self.current).strip(" ")
        self.current = []
        if line or force:
            self.lines.append("> " * self.quote_depth + line if line else ">" * min(1, self.quote_depth))

    def text(self) -> str:
        self._end_line()
        joined = "\n".join(line.rstrip() for line in self.lines)
        return BLANK_RUNS.sub("\n\n", joined.replace("\xa0", " ")).strip("\n")
