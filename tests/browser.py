"""Headless Chromium for the tests that open pages: Debian's browser (`make test`
installs it), its own background traffic off as on a machine without internet, and
every request that would leave the allowed origins aborted and recorded."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Traffic:
    """What a page asked for outside its allowed origins, and the script errors it had."""

    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def offline_page(allowed: tuple[str, ...], viewport: dict | None = None) -> Iterator[tuple]:
    """(page, traffic): a Chromium page whose requests outside the URL prefixes
    ``allowed`` (plus data: and blob:) are aborted and listed in ``traffic.outside``."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "headless Chromium is missing: `make test` installs Debian's"
    traffic = Traffic()

    def route(handle) -> None:
        url = handle.request.url
        if url.startswith((*allowed, "data:", "blob:")):
            handle.continue_()
        else:  # a request that would leave the machine
            traffic.outside.append(url)
            handle.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport or {"width": 1300, "height": 1000})
            page.route("**/*", route)
            page.on("pageerror", lambda error: traffic.errors.append(str(error)))
            yield page, traffic
        finally:
            browser.close()
