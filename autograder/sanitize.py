"""What a student's notebook puts in front of the instructor, made inert.

formgrader renders ``autograded/`` in the instructor's Jupyter session, where a script could use
the instructor's token. Everything in that notebook came from the student: the text of the cells
(markdown answers included) and the outputs their code produced. Before it is written:

* **outputs** keep only mimetypes that render as data: ``text/plain``, ``image/png``,
  ``image/jpeg``, ``text/latex``, ``text/markdown`` and ``text/html`` (both cleaned as below);
  ``application/javascript``, widget views, ``image/svg+xml`` (an SVG may carry a script) and any
  other type are dropped, and output ``metadata`` is emptied;
* **HTML** (an output's ``text/html``, raw HTML inside markdown) goes through ``bleach`` (the
  allow-list sanitiser nbconvert itself uses): tables, text formatting, headings, lists, links and
  images survive; ``<script>``, ``<iframe>``, ``<style>``, ``on*=`` handlers, ``style=`` and any URL
  whose scheme is not http(s), mailto or an inline png/jpeg/gif are removed or escaped;
* **markdown** links and images (``[x](javascript:...)``, ``<javascript:...>``) get the same URL
  rule; ``$...$`` math keeps its meaning, with ``<`` and ``>`` written as ``\\lt`` and ``\\gt``.

Examples:
    >>> clean_outputs([{"output_type": "display_data", "metadata": {},
    ...                 "data": {"application/javascript": "alert(1)", "text/plain": "x"}}])
    [{'output_type': 'display_data', 'metadata': {}, 'data': {'text/plain': 'x'}}]
    >>> clean_markdown('see [this](javascript:alert(1)) and $a<b$')
    'see [this](#blocked)) and $a\\\\lt b$'
"""
from __future__ import annotations

import html
import re

import bleach

TAGS = frozenset({"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt",
                  "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s",
                  "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
                  "thead", "tr", "u", "ul"})
ATTRIBUTES = {"a": ["href", "title"], "img": ["src", "alt", "title", "width", "height"], "abbr": ["title"],
              "td": ["colspan", "rowspan", "align"], "th": ["colspan", "rowspan", "align"], "*": ["class"]}
PROTOCOLS = frozenset({"http", "https", "mailto", "data"})   # data: only for images, see _safe_url
KEEP_MIMETYPES = ("text/plain", "image/png", "image/jpeg", "text/latex", "text/markdown", "text/html")
IMAGE_DATA = re.compile(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*$", re.I)
# a URL scheme as a browser reads it: letters with any whitespace or control characters between
_SCHEME = re.compile(r"^[\s\x00-\x20]*([a-z][a-z0-9+.\-\s\x00-\x1f]*):", re.I)
# a link destination: ``](<url>)`` (may hold spaces and tabs), ``](url)``, ``[ref]: url``, ``<url>``
_MD_LINK = re.compile(r"(\]\(\s*<|^\s{0,3}\[[^\]]+\]:\s*<|<)([^>\n]*)|(\]\(\s*|^\s{0,3}\[[^\]]+\]:\s*)([^)\s]*)",
                      re.M)


def _safe_url(url: str) -> bool:
    """http(s), mailto, relative and #fragment URLs; ``data:`` only for an inline png/jpeg/gif."""
    text = html.unescape(url)
    m = _SCHEME.match(text)
    if not m:
        return True
    scheme = re.sub(r"[\s\x00-\x1f]", "", m.group(1)).lower()
    if scheme == "data":
        return bool(IMAGE_DATA.match(text.strip()))
    return scheme in ("http", "https", "mailto")


def _attr_ok(tag: str, name: str, value: str) -> bool:
    allowed = ATTRIBUTES.get(tag, []) + ATTRIBUTES["*"]
    if name not in allowed:
        return False
    return _safe_url(value) if name in ("href", "src") else True


def clean_html(text: str) -> str:
    """``text`` with every tag, attribute and URL outside the allow-list escaped or removed."""
    return bleach.clean(text, tags=TAGS, attributes=_attr_ok, protocols=PROTOCOLS, strip=False,
                        strip_comments=True)


_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$", re.S)


def clean_markdown(source: str) -> str:
    """A markdown cell's source: raw HTML cleaned, links and images only to safe URLs; in ``$...$``
    math, ``<`` and ``>`` become ``\\lt`` and ``\\gt`` (nbconvert escapes math as text, so an HTML
    entity there would show literally; MathJax reads the commands, and no tag can start)."""
    parts, last = [], 0
    for m in _MATH.finditer(source):
        parts.append(_clean_text(source[last:m.start()]))
        parts.append(m.group(0).replace("<", "\\lt ").replace(">", "\\gt "))
        last = m.end()
    parts.append(_clean_text(source[last:]))
    return "".join(parts)


def _clean_text(source: str) -> str:
    def link(m: re.Match) -> str:
        lead, url = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
        if not url or _safe_url(url):
            return m.group(0)
        return lead + "#blocked" + (">" if lead.endswith("<") and m.group(0).endswith(">") else "")
    return clean_html(_MD_LINK.sub(link, source))


def clean_output(output: dict) -> dict | None:
    """One nbformat output as data only (None when nothing of it may be shown)."""
    kind = output.get("output_type")
    if kind not in ("display_data", "execute_result"):
        return output          # stream and error text is escaped by every renderer
    data = {}
    for mime in KEEP_MIMETYPES:
        value = output.get("data", {}).get(mime)
        if isinstance(value, list):
            value = "".join(str(v) for v in value)
        if not isinstance(value, str):
            continue
        if mime == "text/html":
            value = clean_html(value)
        elif mime == "text/markdown":
            value = clean_markdown(value)
        data[mime] = value
    if not data:
        return None
    out = dict(output, data=data, metadata={})
    return out


def clean_outputs(outputs: list[dict]) -> list[dict]:
    return [o for o in map(clean_output, outputs) if o is not None]
