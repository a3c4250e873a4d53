"""CORS proved in a real headless browser: a page served from another origin calls a live
mockgraph server with ``fetch`` and reads the exposed headers; a page whose origin is not allowed
is blocked by the browser. Over HTTPS too: ``mockgraph serve --tls``, whose CA Chromium trusts by
the pin ``mockgraph ca`` prints (``--ignore-certificate-errors-spki-list``; the server sends
its certificate with the CA's).

Needs Debian's ``chromium`` (``apt-get install chromium``) and Playwright for Python, driven
with ``executable_path`` (never ``playwright install``). Without them the module skips, except
when ``CI=true``: CI must run it, so there it fails.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mockgraph import Config, create_app
from mockgraph.http.contracts import Contracts
from mockgraph.serve.live import MockGraphServer

if TYPE_CHECKING:
    from clients.conftest import HttpsMock, ServeHttps, Trust

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags this machine's closed network needs (.library/env/machines/python.md): no
# background connections, no QUIC, no sandbox when running as root in a container.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_FILE = Path(__file__).with_name("browser_page.html")
TOKEN = "browser-test-token"
#: How often the page server looks for shutdown (the default 0.5 s would slow teardown).
POLL = 0.02


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}: .ci/run must install it", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


if CHROMIUM is None:
    _unavailable("chromium is not installed (apt-get install chromium)")
try:
    from playwright.sync_api import BrowserContext, Page, sync_playwright
except ImportError:
    _unavailable("playwright is not installed (pip install '.[test]')")


@contextmanager
def live_mock(config: Config, contracts: Contracts) -> Iterator[tuple[str, MockGraphServer]]:
    """A mockgraph server on a free loopback port; yields its root URL (the page adds /beta)."""
    with MockGraphServer(app=create_app(config, contracts=contracts)) as server:
        yield server.root_url, server


class _PageHandler(BaseHTTPRequestHandler):
    """Serves the one test page, on a port (so an origin) of its own."""

    def do_GET(self) -> None:
        data = PAGE_FILE.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, args=(POLL,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture(scope="module")
def https_live(serve_https: ServeHttps) -> Iterator[HttpsMock]:
    """``mockgraph serve --tls`` as a user starts it (any localhost origin may call it)."""
    with serve_https() as mock:
        yield mock


@pytest.fixture(scope="module")
def browser(
    tmp_path_factory: pytest.TempPathFactory, https_trust: Trust
) -> Iterator[BrowserContext]:
    # Trusts mockgraph's CA (and nothing else untrusted): a pin of the CA's key works because
    # the server sends the chain, leaf and CA.
    trust = f"--ignore-certificate-errors-spki-list={https_trust.pin}"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, trust],
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: BrowserContext, page_origin: str) -> Iterator[Page]:
    page = browser.new_page()
    page.goto(page_origin + "/")
    try:
        yield page
    finally:
        page.close()


Run = Callable[[str, str], Any]


def runner(page: Page) -> Run:
    """Call one of the page's async functions with (mock base URL, token)."""

    def run(function: str, base: str) -> Any:
        return page.evaluate(f"([base, token]) => {function}(base, token)", [base, TOKEN])

    return run


def test_a_page_from_another_origin_creates_and_lists_key_sets(
    page: Page, page_origin: str, contracts: Contracts
) -> None:
    with live_mock(Config(), contracts) as (base, server):
        assert base != page_origin
        result = runner(page)("createAndList", base)
        stored, journal = server.store, server.requests

    first, second, listed = result["first"], result["second"], result["list"]
    assert first.get("blocked") is None, first
    assert (first["status"], second["status"], listed["status"]) == (201, 201, 200)
    assert first["location"] == "/trustFramework/keySets('B2C_1A_BrowserOne')"
    assert first["requestId"] and first["requestId"] != second["requestId"]
    assert first["clientRequestId"] == "page-1"
    assert [k["id"] for k in listed["body"]["value"]] == ["B2C_1A_BrowserOne", "B2C_1A_BrowserTwo"]
    # Not exposed, so the browser hides it from the script: CORS really applied.
    assert first["vary"] is None
    assert "B2C_1A_BrowserOne" in stored
    preflights = [e for e in journal if e.method == "OPTIONS"]
    assert preflights and all(e.status == 204 for e in preflights)


def test_a_page_reads_the_401_and_the_429_with_its_retry_after(
    page: Page, contracts: Contracts
) -> None:
    with live_mock(Config(), contracts) as (base, _):
        result = runner(page)("errors", base)
    unauthenticated, throttled = result["unauthenticated"], result["throttled"]
    assert unauthenticated["status"] == 401
    assert unauthenticated["body"]["error"]["code"] == "InvalidAuthenticationToken"
    assert unauthenticated["requestId"]
    assert throttled["status"] == 429
    assert throttled["retryAfter"] == "7"
    assert throttled["body"]["error"]["code"] == "TooManyRequests"


def test_a_page_sends_a_batch(page: Page, contracts: Contracts) -> None:
    with live_mock(Config(), contracts) as (base, _):
        result = runner(page)("batch", base)
    assert result["status"] == 200
    statuses = {a["id"]: a["status"] for a in result["body"]["responses"]}
    assert statuses == {"1": 201, "2": 200}


def test_a_page_whose_origin_is_not_allowed_is_blocked_by_the_browser(
    page: Page, contracts: Contracts
) -> None:
    config = Config(cors_origins=("https://only-this.example",))
    with live_mock(config, contracts) as (base, server):
        result = runner(page)("createAndList", base)
        stored, journal = server.store, server.requests
    for call in result.values():
        assert call["blocked"] is True
        assert "Failed to fetch" in call["error"]
    # The browser stopped at the refused preflight: no request reached the store.
    assert len(stored) == 0
    assert {e.method for e in journal} == {"OPTIONS"}


def test_a_page_calls_the_mock_over_https_and_reads_location_and_request_id(
    page: Page, page_origin: str, https_live: HttpsMock
) -> None:
    https_live.reset()
    result = runner(page)("createAndList", https_live.root)
    journal = https_live.requests()

    first, second, listed = result["first"], result["second"], result["list"]
    assert first.get("blocked") is None, first
    assert (first["status"], second["status"], listed["status"]) == (201, 201, 200)
    assert first["location"] == "/trustFramework/keySets('B2C_1A_BrowserOne')"
    assert first["clientRequestId"] == "page-1"
    assert first["vary"] is None
    assert [k["id"] for k in listed["body"]["value"]] == ["B2C_1A_BrowserOne", "B2C_1A_BrowserTwo"]
    # The request-id the script read is the one the mock sent for that call.
    creates = [e for e in journal if e["method"] == "POST"]
    assert [e["response_headers"]["request-id"] for e in creates] == [
        first["requestId"],
        second["requestId"],
    ]
    assert all(e["headers"].get("Origin") == page_origin for e in creates)
    preflights = [e for e in journal if e["method"] == "OPTIONS"]
    assert preflights and all(e["status"] == 204 for e in preflights)
