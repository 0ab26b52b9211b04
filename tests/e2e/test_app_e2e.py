"""End to end: the real Chainlit app in a headless Chromium, on the session's test Redis.

Flow (local single-user mode): upload a generated export → progress → summary + chart; ask a
question → a tool step and the right number; a chart renders; reload, resume the thread from
the sidebar, ask a follow-up that needs the earlier turn. Password mode: a second user does not
see the first user's threads and cannot open them by id.

Skipped only when /usr/bin/chromium is missing. Servers run with CI unset (chainlit's CI mode
replaces OPENAI_API_KEY), WELLNESS_TODAY pinned, and a temp app root each.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from tests.e2e.chainlit_server import Server

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "test-output"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]

if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
    pytest.skip("Debian chromium is not installed (/usr/bin/chromium)", allow_module_level=True)

# Records every text the chat showed, so a progress message that is quickly replaced by the
# summary is still observed.
SEEN_SCRIPT = """
window.__seen = [];
new MutationObserver(() => {
  const t = document.body ? document.body.innerText : '';
  if (t.includes('Importing')) window.__seen.push(t.slice(t.indexOf('Importing'), t.indexOf('Importing') + 200));
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory):
    from tests.healthgen import GenConfig, write_zip

    path = tmp_path_factory.mktemp("export") / "export.zip"
    truth = write_zip(path, GenConfig(seed=3, start=date(2026, 8, 3), days=120, scale=0.5,
                                      unit_profile="metric"))
    return path, truth


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("local"), redis_url, "local")
    yield s
    s.stop()


def _send(page, text: str) -> None:
    page.click("#chat-input")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def _wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the running task ends (the stop button disappears)."""
    page.wait_for_timeout(300)
    page.wait_for_selector("#stop-button", state="detached", timeout=timeout)


THREAD_ITEMS = ("Array.from(document.querySelectorAll('[id^=\"thread-\"]'))"
                ".map(e => e.id.slice(7)).filter(i => /^[0-9a-f-]{36}$/.test(i))")


def _thread_ids(page) -> list[str]:
    """Ids of the threads listed in the history sidebar."""
    return page.evaluate(THREAD_ITEMS)


def _wait_threads(page, timeout: float = 30_000) -> list[str]:
    page.wait_for_function(f"{THREAD_ITEMS}.length > 0", timeout=timeout)
    return _thread_ids(page)


def test_upload_ask_chart_resume(browser, local_server: Server, export) -> None:
    path, truth = export
    OUT.mkdir(exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.add_init_script(SEEN_SCRIPT)
    page = ctx.new_page()
    page.goto(local_server.base)
    page.wait_for_selector("#chat-input", timeout=30_000)
    page.wait_for_selector("text=Load demo data", timeout=15_000)  # welcome for a new user
    page.screenshot(path=str(OUT / "e2e-1-welcome.png"))

    # -- upload → progress → summary + chart --------------------------------------------
    page.set_input_files("#upload-button-input", str(path))
    page.wait_for_selector("#chat-submit:not([disabled])", timeout=30_000)
    page.click("#chat-submit")
    page.wait_for_selector("text=Imported export.zip", timeout=90_000)
    seen = page.evaluate("window.__seen")
    assert any("records" in s for s in seen), f"no progress seen: {seen[:3]}"
    body = page.inner_text("body")
    assert f"{truth.date_range['start']} to {truth.date_range['end']}" in body
    assert "Sources:" in body
    page.wait_for_selector(".js-plotly-plot", timeout=30_000)
    page.screenshot(path=str(OUT / "e2e-2-imported.png"), full_page=True)

    # -- a chart (first, so the follow-up below refers to the workouts question) -------------------------------------------------------------------------
    charts_before = page.locator(".js-plotly-plot").count()
    _send(page, "Show my daily steps for the last 30 days.")
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length > {charts_before}",
                           timeout=60_000)
    _wait_idle(page)

    # -- a question: tool step + the right number --------------------------------------
    november = sum(1 for w in truth.workouts if w["date"].startswith("2026-11"))
    _send(page, "How many workouts did I do last month?")
    page.wait_for_selector('[data-step-type="tool"]', timeout=60_000)
    _wait_idle(page)
    text = page.inner_text("body")
    assert f"{november} workouts" in text, text[-1500:]
    page.screenshot(path=str(OUT / "e2e-3-answers.png"), full_page=True)

    # -- reload, resume from the sidebar, follow-up that needs the earlier turn ----------
    page.goto(local_server.base)
    page.wait_for_selector("#chat-input", timeout=30_000)
    # with data imported there is no welcome message, so the starter prompts stay visible
    page.wait_for_selector("text=Workouts last month", timeout=30_000)
    page.wait_for_timeout(800)  # the welcome screen fades in
    page.screenshot(path=str(OUT / "e2e-starters.png"))
    first = _wait_threads(page)[0]
    page.click(f"#thread-{first}")
    page.wait_for_selector("text=How many workouts did I do last month?", timeout=30_000)
    page.wait_for_selector(".js-plotly-plot", timeout=30_000)  # charts survive the resume
    october = sum(1 for w in truth.workouts if w["date"].startswith("2026-10"))
    _send(page, "And the month before?")
    page.wait_for_function(
        "document.querySelectorAll('[data-step-type=\"tool\"]').length >= 1", timeout=60_000)
    _wait_idle(page)
    text = page.inner_text("body")
    assert f"{october} workouts" in text, text[-1500:]
    page.screenshot(path=str(OUT / "e2e-4-resumed.png"), full_page=True)
    # README picture: the resumed thread in the sidebar, a tool step, the answer and its chart
    page.screenshot(path=str(REPO / "docs" / "screenshot.png"))

    # -- memory panel: a goal shows up and its forget button works ----------------------
    _send(page, "My goal is to walk 10000 steps a day")
    page.wait_for_selector("text=Saved your goal", timeout=60_000)
    _wait_idle(page)
    _send(page, "What do you remember about me?")
    forget = page.get_by_role("button", name="Forget goal: steps")
    forget.wait_for(timeout=30_000)
    page.screenshot(path=str(OUT / "e2e-5-memory.png"), full_page=True)
    forget.click()
    page.wait_for_selector("text=Forgot that goal.", timeout=30_000)
    ctx.close()


def test_import_while_chatting_in_another_tab(browser, local_server: Server,
                                              tmp_path: Path) -> None:
    """A long import in one tab; the same user keeps chatting in a second tab meanwhile."""
    from tests.healthgen import GenConfig, write_zip

    big = tmp_path / "export.zip"
    write_zip(big, GenConfig(seed=5, start=date(2026, 6, 1), days=150, scale=1.0,
                             unit_profile="metric"))
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.add_init_script(SEEN_SCRIPT)
    tab_a, tab_b = ctx.new_page(), ctx.new_page()
    for tab in (tab_a, tab_b):
        tab.goto(local_server.base)
        tab.wait_for_selector("#chat-input", timeout=30_000)
    tab_b.wait_for_timeout(1000)
    tab_a.set_input_files("#upload-button-input", str(big))
    tab_a.wait_for_selector("#chat-submit:not([disabled])", timeout=30_000)
    tab_a.click("#chat-submit")
    tab_a.wait_for_selector("text=Cancel import", timeout=30_000)
    asked = time.monotonic()
    _send(tab_b, "What date range does my health data cover?")
    tab_b.wait_for_selector('[data-step-type="tool"]', timeout=30_000)
    _wait_idle(tab_b)
    # The chat answered while the import was running (or had just finished on a fast
    # machine): either way the answer came promptly, not after the import.
    assert time.monotonic() - asked < 20, "chat stalled behind the import"
    tab_a.screenshot(path=str(OUT / "e2e-7-importing.png"))
    tab_a.wait_for_selector("text=Imported export.zip", timeout=120_000)
    ctx.close()


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Server]:
    import redis

    from wellness.chat.auth import add_user

    r = redis.Redis.from_url(redis_url, decode_responses=True)
    add_user(r, "alice-e2e", "alice-password-1")
    add_user(r, "bob-e2e", "bob-password-1")
    s = Server(tmp_path_factory.mktemp("password"), redis_url, "password")
    yield s
    s.stop()


def _login(browser, server: Server, user: str, password: str):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(server.base + "/login")
    page.wait_for_selector("#email", timeout=30_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(OUT / "e2e-login.png"))
    page.fill("#email", user)
    page.fill("#password", password)
    page.keyboard.press("Enter")
    page.wait_for_selector("#chat-input", timeout=30_000)
    # on_chat_start's welcome proves the socket is up; typing earlier can lose the message
    page.wait_for_selector("text=Load demo data", timeout=30_000)
    return ctx, page


def test_password_mode_isolates_threads(browser, password_server: Server) -> None:
    ctx_a, page_a = _login(browser, password_server, "alice-e2e", "alice-password-1")
    _send(page_a, "Alice secret question about sleep")
    page_a.wait_for_selector("text=Alice secret question about sleep", timeout=30_000)
    _wait_idle(page_a)
    page_a.goto(password_server.base)
    thread_id = _wait_threads(page_a)[0]
    ctx_a.close()

    ctx_b, page_b = _login(browser, password_server, "bob-e2e", "bob-password-1")
    page_b.wait_for_timeout(2000)
    assert "Alice secret question" not in page_b.inner_text("body")
    assert thread_id not in _thread_ids(page_b)
    page_b.goto(f"{password_server.base}/thread/{thread_id}")
    page_b.wait_for_timeout(3000)
    assert "Alice secret question" not in page_b.inner_text("body")
    page_b.screenshot(path=str(OUT / "e2e-6-other-user.png"))
    # bob has no data of his own yet: the demo button imports a generated export for him
    page_b.goto(password_server.base)
    page_b.get_by_role("button", name="Load demo data").click()
    page_b.wait_for_selector("text=Imported demo-export.zip", timeout=60_000)
    ctx_b.close()


def test_wrong_password_is_refused(browser, password_server: Server) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(password_server.base + "/login")
    page.wait_for_selector("#email", timeout=30_000)
    page.fill("#email", "alice-e2e")
    page.fill("#password", "wrong-password")
    page.keyboard.press("Enter")
    page.wait_for_timeout(1500)
    assert page.locator("#chat-input").count() == 0
    ctx.close()
