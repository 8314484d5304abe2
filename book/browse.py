"""Open a built book the way a reader does: a local HTTP server and headless Chromium with every
request that would leave the machine blocked and recorded (used by tests/test_book.py, and to
check every page of a real build and take the screenshots:
``python -m book.browse check build/book/student``, ``python -m book.browse shots build/book/student artifacts/book``).
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

#: in-page probes: MathJax finished, rendered math present, raw TeX left in the article text
MATH_STATE = """() => {
  const article = (document.querySelector('article') || document.body).cloneNode(true);
  article.querySelectorAll('pre, code, .highlight, script, .MathJax_Preview').forEach(e => e.remove());
  const text = article.textContent;
  return {
    mathjax: !!(window.MathJax && window.MathJax.Hub),
    rendered: document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML, mjx-container').length,
    tex_sources: document.querySelectorAll('span.math, div.math').length,
    raw_tex: (text.match(/\\$\\$|\\\\[A-Za-z]{2,}|\\\\[()\\[\\]]/g) || []).slice(0, 10),
  };
}"""
FIGURES = """() => [...document.querySelectorAll('article img')].map(
  i => ({src: i.getAttribute('src'), w: i.naturalWidth, h: i.naturalHeight}))"""
MATHJAX_DONE = """() => new Promise(done => {
  if (!window.MathJax || !window.MathJax.Hub) return done(false);
  window.MathJax.Hub.Queue(() => done(true));
})"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 (a free port) for the duration of the block; yield its URL."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def is_local(url: str) -> bool:
    u = urlparse(url)
    return u.scheme in ("file", "data", "blob", "about") or (u.hostname or "") in LOCAL_HOSTS


@contextlib.contextmanager
def offline_page(width: int = 1280, height: int = 900):
    """A Chromium page on which every non-local request is aborted; yield (page, blocked_urls)."""
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []

    def route(r):
        if is_local(r.request.url):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            context.route("**/*", route)
            page = context.new_page()
            yield page, blocked
        finally:
            browser.close()


def open_page(page, url: str, timeout_ms: int = 60_000) -> None:
    """Load ``url`` and wait until the network is idle and MathJax has typeset the page."""
    page.goto(url, wait_until="networkidle", timeout=timeout_ms)
    page.evaluate(MATHJAX_DONE)


def search(page, base: str, word: str, timeout_ms: int = 30_000) -> list[str]:
    """The result titles of the book's search page for ``word``."""
    page.goto(f"{base}/search.html?q={word}", wait_until="networkidle", timeout=timeout_ms)
    page.wait_for_selector("#search-results ul.search li", timeout=timeout_ms)
    return page.locator("#search-results ul.search li a").all_inner_texts()


def page_problems(page, rel: str) -> list[str]:
    """What is wrong with the open page: math left as raw TeX or not typeset, figures that did not load."""
    problems = []
    math = page.evaluate(MATH_STATE)
    if math["tex_sources"] and not (math["mathjax"] and math["rendered"]):
        problems.append(f"{rel}: {math['tex_sources']} equations, but MathJax rendered {math['rendered']}")
    if math["raw_tex"]:
        problems.append(f"{rel}: raw TeX in the text: {math['raw_tex']}")
    broken = [f["src"] for f in page.evaluate(FIGURES) if not (f["w"] and f["h"])]
    if broken:
        problems.append(f"{rel}: figures that did not load: {broken}")
    return problems


def check_site(site: Path) -> list[str]:
    """Open the landing page and every page of the book in ``site`` offline; return the problems."""
    problems = []
    pages = ["index.html"] + sorted(p.relative_to(site).as_posix() for p in site.glob("[0-9]*/*.html"))
    with serve(site) as base, offline_page() as (page, blocked):
        for rel in pages:
            open_page(page, f"{base}/{rel}")
            problems += page_problems(page, rel)
        if not search(page, base, "Xavier"):
            problems.append("search finds nothing for 'Xavier'")
        problems += [f"request to another host: {u}" for u in blocked]
    return problems


def screenshots(site: Path, dest: Path, page_rel: str | None = None) -> list[Path]:
    """Landing page, one assignment page (``page_rel`` or the first with equations and a figure),
    and the search results for "Xavier" of the book in ``site``, as PNGs in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shots = []
    with serve(site) as base, offline_page() as (page, blocked):
        open_page(page, f"{base}/index.html")
        shots.append(dest / "landing.png")
        page.screenshot(path=str(shots[-1]), full_page=False)
        candidates = [page_rel] if page_rel else sorted(
            str(p.relative_to(site)) for p in site.glob("[0-9]*/*.html"))
        for rel in candidates:
            open_page(page, f"{base}/{rel}")
            figure = page.locator("article img").first
            if page.evaluate(MATH_STATE)["rendered"] and figure.count():
                figure.scroll_into_view_if_needed()
                page.evaluate("() => window.scrollBy(0, -250)")
                shots.append(dest / "assignment_page.png")
                page.screenshot(path=str(shots[-1]), full_page=False)
                break
        search(page, base, "Xavier")
        shots.append(dest / "search.png")
        page.screenshot(path=str(shots[-1]), full_page=False)
        if blocked:
            raise RuntimeError(f"the book requested other hosts: {blocked}")
    return shots


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "check":
        problems = check_site(Path(argv[1]))
        print("\n".join(problems) or f"{argv[1]}: every page fine (math typeset, figures loaded, offline)")
        return 1 if problems else 0
    if len(argv) >= 3 and argv[0] == "shots":
        for shot in screenshots(Path(argv[1]), Path(argv[2]), argv[3] if len(argv) > 3 else None):
            print(shot)
        return 0
    print("usage: python -m book.browse check SITE | shots SITE DEST [PAGE]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
