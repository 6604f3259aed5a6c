"""Browser fixtures: Debian's Chromium driven by Playwright's sync API against pytest-django's
live server. No browser is ever downloaded; screenshots of each page go to test-artifacts/."""

import datetime
import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM, used by the test
# to build its data, refuses to run in a thread with a loop unless told it is safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CARNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1366, "height": 850}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        # A green run must mean the browser tests ran: skipped only when asked for by name.
        if os.environ.get("CARNET_SKIP_BROWSER") == "1":
            pytest.skip(f"no Chromium at {CHROMIUM} (CARNET_SKIP_BROWSER=1)")
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium where it may "
            "(sudo apt-get install chromium); CARNET_SKIP_BROWSER=1 skips the browser tests"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _watched_page(browser):
    """A new context and its page, with a list collecting Content-Security-Policy violations."""
    context = browser.new_context(viewport=VIEWPORT, locale="fr-FR", timezone_id="Europe/Paris")
    context.set_default_timeout(10_000)
    # The page's own clock (Date, timers) runs from the test's moment (the live server's,
    # shifted or not), so what the browser computes agrees with what the server wrote.
    context.clock.install(time=datetime.datetime.now(datetime.UTC))
    page = context.new_page()
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    return context, page, violations


def _close(context, violations) -> None:
    context.close()
    if violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(violations))


@pytest.fixture
def page(browser):
    """A fresh browser context per test. The pages' Content-Security-Policy stays on, and any
    violation it reports (an inline style or script slipped into a template) fails the test."""
    context, page, violations = _watched_page(browser)
    yield page
    _close(context, violations)


@pytest.fixture
def other_page(browser):
    """A second, separate browser context (another person at another desk), watched for
    Content-Security-Policy violations like `page`."""
    context, page, violations = _watched_page(browser)
    yield page
    _close(context, violations)


@pytest.fixture
def shoot(page):
    """shoot(name): a full-page screenshot of the current page, test-artifacts/<name>.png;
    shoot(name, on=other) takes it of another page (another browser context)."""
    from playwright.sync_api import Error as PlaywrightError

    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str, *, on=None) -> Path:
        path = ARTIFACTS / f"{name}.png"
        target = on or page
        # Chromium sometimes has no frame to give right after a navigation ("Unable to capture
        # screenshot"): the page is waited for and asked again, a few times at most.
        for attempt in range(3):
            try:
                target.wait_for_load_state("load")
                target.screenshot(path=str(path), full_page=True)
                return path
            except PlaywrightError as error:
                if "Unable to capture screenshot" not in str(error) or attempt == 2:
                    raise
                target.wait_for_timeout(300)
        return path

    return take
