"""The emulator's page at ``/``, in a real headless Chromium (Debian's, driven by Playwright).

A person opens the page, types a reply in the form, and sees the delivery as delivered; the test
bridge verified its signature with the reference library. The page must load without a console
error, show no key or secret, and offer no form when read-only. A screenshot is kept in
``.ci/artifacts/`` for CI to publish.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator, serve_in_thread
from reconciler.emulator.outbound import OutboundSettings
from tests.bridge import Bridge, running
from tests.eco_tools import ROOT, python_tool, require_tool

SECRET = "page-secret-value"
ARTIFACTS = ROOT / ".ci" / "artifacts"


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    require_tool("Chromium (apt-get install chromium; .ci/run installs it)", False)
    raise AssertionError("unreachable")


@pytest.fixture
def browser() -> Iterator[Any]:
    python_tool("playwright")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield launched
        launched.close()


def seeded(endpoint: str) -> Emulator:
    emu = Emulator(outbound=OutboundSettings(backoff_base=0.05))
    channel_id = emu.seed_channels(
        [
            {
                "name": "SMS gateway",
                "custom_channel_endpoint": endpoint,
                "include_signature": "true",
                "custom_channel_secret": SECRET,
            }
        ]
    )[0]
    status, _, _ = emu.handle(
        "POST",
        "/api/v2/channel/customChannelMessage",
        {},
        {"apikey": "demo", "content-type": "application/x-www-form-urlencoded"},
        f"channelID={channel_id}&message=Where+is+my+parcel%3F&fromAddress=%2B3161".encode(),
    )
    assert status == 200
    return emu


def test_a_reply_typed_in_the_page_reaches_the_bridge_signed_and_shows_delivered(browser: Any) -> None:
    with running(Bridge(secret=SECRET.encode())) as bridge:
        emu = seeded(bridge.url)
        with serve_in_thread(emu) as server:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
            page.goto(server.url + "/")
            assert "Where is my parcel?" in page.inner_text("body")
            page.fill("textarea[name=message]", "Your parcel arrives tomorrow.")
            page.fill("input[name=agent]", "Robin")
            page.click("button[type=submit]")
            deadline = time.monotonic() + 15
            while "delivered" not in page.inner_text("#delivery-1 td:nth-child(4)") and time.monotonic() < deadline:
                time.sleep(0.2)
                page.reload()
            state = page.inner_text("#delivery-1 td:nth-child(4)")
            text = page.inner_text("body")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "emulator-page.png"), full_page=True)
            assert page.evaluate("document.scripts.length") == 0
    emu.close()
    assert state == "delivered"
    assert problems == []
    assert "agent Robin → customer: Your parcel arrives tomorrow." in text
    assert "webhook-signature: v1," in text and "assumed" in text
    assert SECRET not in page.content() and "demo" not in text
    post = bridge.posts[0]
    assert post.verified is True, post.error


def test_beyond_loopback_the_page_is_read_only(browser: Any) -> None:
    emu = seeded("http://127.0.0.1:9/none")
    with serve_in_thread(emu, read_only_page=True) as server:
        page = browser.new_page()
        page.goto(server.url + "/")
        assert page.locator("form").count() == 0
        assert "read-only" in page.inner_text("body")
        refused = httpx.post(server.url + "/ui/reply", data={"ticket": "1", "message": "x", "token": "guess"})
    emu.close()
    assert refused.status_code == 403
    assert not [m for t in emu.tickets() for m in t["messages"] if m.get("direction") == "outbound"]


def test_a_form_post_from_another_page_is_refused() -> None:
    emu = seeded("http://127.0.0.1:9/none")
    with serve_in_thread(emu) as server:
        refused = httpx.post(server.url + "/ui/reply", data={"ticket": "1", "message": "forged", "token": "guess"})
        page = httpx.get(server.url + "/")
    emu.close()
    assert refused.status_code == 403 and "reload the page" in refused.json()["message"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "demo" not in page.text and SECRET not in page.text
