"""Hostile uploads through the real web path (issue #7 §1).

Every file of apple-health-format.md §5.3 (``tests/healthgen/hostile.py``) plus a 0-byte file,
an HTML page and a PNG renamed ``.zip``, a real ``.png``, UTF-16 XML, a 5 GiB sparse file, an
upload cut off mid-transfer and two uploads at once go through ``POST /project/file`` and a
``client_message`` exactly like the browser. For each: the chat shows one short, clear
message; the server answers the next message; the user's data, memories and conversation
checkpoints are byte-for-byte unchanged (``DUMP`` of every key before and after).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.healthgen import GenConfig, write_zip
from tests.healthgen import hostile
from tests.reliability.harness import (
    UNTOUCHED,
    AppServer,
    ChatClient,
    raw_client,
    snapshot,
    thread_keys,
    user_patterns,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

#: Rejected cases first: they run while the seeded dataset is live.
REJECTED = sorted(hostile.REJECTED - {"sparse_5gb"})
VALID = sorted(hostile.VALID_VARIANTS)
BAD_WORDS = ("traceback", "exception", "errno", "keyerror", "valueerror", "/tmp/", ".files")


class Seeded:
    """The module's user: a seeded dataset, one conversation turn, a live chat session."""

    def __init__(self, server: AppServer, client: ChatClient, user: str, files: Path) -> None:
        self.server = server
        self.client = client
        self.user = user
        self.files = files

    def state(self, like: dict[str, Any] | None = None) -> dict[str, Any]:
        """DUMP of the user's data/memory/checkpoint keys and the thread's *earlier* steps.

        With ``like`` (an earlier snapshot) the same thread keys are dumped again, so the
        messages a rejected upload itself adds to the chat do not count as a change; the
        thread hash and its step index change by design (new messages) and are excluded.
        """
        r = raw_client(self.server.redis_url)
        try:
            if like is None:
                extra = [k for k in thread_keys(r, self.client.first_thread or "")
                         if k.startswith("cl:step:")]
            else:
                extra = [k for k in like if k.startswith("cl:step:")]
            return snapshot(r, user_patterns(self.user), extra)
        finally:
            r.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(app_server: AppServer, module_tmp: Path) -> AsyncIterator[Seeded]:
    files = module_tmp / "hostile"
    files.mkdir(exist_ok=True)
    seed = files / "seed_export.zip"
    write_zip(seed, GenConfig(seed=5, days=20, scale=0.1, travel=False))
    client = await ChatClient.local(app_server.base)
    await client.connect()
    status, text = await client.import_file(seed)
    assert status == 200 and text.startswith("**Imported"), text
    await client.send("How many steps did I take in total?")
    yield Seeded(app_server, client, app_server.user, files)  # type: ignore[attr-defined]
    await client.close()


def _clear(text: str) -> tuple[bool, str]:
    """One short, plain message that reassures about the data (no internals leaked)."""
    low = text.lower()
    if not text.strip():
        return False, "empty"
    if len(text) > 420:
        return False, f"too long ({len(text)} chars)"
    leaked = [w for w in BAD_WORDS if w in low]
    if "None" in text.split():
        leaked.append("None")
    if leaked:
        return False, f"leaks {leaked}"
    if UNTOUCHED not in low and "not changed" not in low and "unchanged" not in low:
        return False, "does not say the previous data is untouched"
    return True, "ok"


async def _still_answers(client: ChatClient) -> tuple[bool, float]:
    mark = client.mark()
    latency = await client.send("status", timeout=30)
    texts = client.texts_since(mark)
    return bool(texts and "Status" in texts[-1]), latency


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("case", REJECTED)
async def test_rejected_file_leaves_everything_unchanged(seeded: Seeded, case: str, record) -> None:
    """Each rejected §5.3 file: one clear message, next message answered, state byte-identical."""
    path = hostile.HOSTILE_CASES[case](seeded.files)
    before = seeded.state()
    t0 = time.monotonic()
    status, text = await seeded.client.import_file(path, timeout=90)
    took = time.monotonic() - t0
    after = seeded.state(before)
    if status == 200:
        ok, why = _clear(text)
    else:  # refused at the door by Chainlit's own accept/size check
        ok, why = status in (400, 413, 415), f"HTTP {status}"
    answers, latency = await _still_answers(seeded.client)
    unchanged = before == after
    record.case(case, text if status == 200 else f"HTTP {status}: {text[:160]}",
                ok and answers and unchanged, expected=hostile.EXPECTED.get(case, ""),
                seconds=round(took, 2), unchanged=unchanged, next_message_s=round(latency, 2),
                keys=len(before))
    assert ok, f"{case}: {why}: {text!r}"
    assert unchanged, f"{case}: user state changed: {set(before) ^ set(after)}"
    assert answers
    assert took < 30, f"{case}: took {took:.1f}s"


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("case", ["png_as_png", "html_as_zip", "utf16_xml", "zero_byte_xml"])
async def test_extra_bad_files(seeded: Seeded, case: str, record) -> None:
    """The issue's extra bad files: a real PNG, HTML renamed .zip, UTF-16 XML, a 0-byte file."""
    d = seeded.files
    if case == "png_as_png":
        path, mime = hostile.png_renamed(d).rename(d / "photo.png"), "image/png"
    elif case == "html_as_zip":
        path, mime = hostile.html_renamed_zip(d), "application/zip"
    elif case == "utf16_xml":
        path, mime = hostile.utf16(d), "text/xml"
    else:
        path, mime = d / "empty.xml", "text/xml"
        path.write_bytes(b"")
    before = seeded.state()
    status, text = await seeded.client.import_file(path, mime=mime)
    after = seeded.state(before)
    ok = _clear(text)[0] if status == 200 else status in (400, 415)
    answers, _ = await _still_answers(seeded.client)
    record.case(case, text if status == 200 else f"HTTP {status} (refused by the upload route)",
                ok and answers and before == after)
    assert ok, text
    assert before == after
    assert answers


@pytest.mark.asyncio(loop_scope="session")
async def test_5gb_sparse_upload_refused_before_body(seeded: Seeded, record) -> None:
    """A 5 GiB upload is refused from its Content-Length, before the body is read.

    Chainlit's route reads the whole body into RAM before checking ``max_size_mb``; the app's
    upload guard answers 413 from the headers. We send at most 32 MiB and measure RSS.
    """
    rss0 = seeded.server.rss_mb()
    before = seeded.state()
    status, sent, took = await raw_upload(seeded.server, seeded.client, "export.xml",
                                          5 * (1 << 30), send_limit=32 << 20)
    rss1 = seeded.server.rss_mb()
    answers, _ = await _still_answers(seeded.client)
    ok = status == 413 and took < 10 and rss1 - rss0 < 200
    record.case("sparse_5gb", f"HTTP {status} after {sent >> 20} MiB sent in {took:.2f}s; "
                f"server RSS {rss0:.0f}→{rss1:.0f} MB", ok and answers,
                expected="refused from Content-Length (413), body never read")
    assert status == 413, f"got {status} after sending {sent} bytes"
    assert took < 10 and rss1 - rss0 < 200
    assert before == seeded.state(before)
    assert answers


@pytest.mark.asyncio(loop_scope="session")
async def test_upload_cut_off_mid_transfer(seeded: Seeded, record) -> None:
    """The client vanishes half-way through a 4 MiB upload: nothing stored, server fine."""
    before = seeded.state()
    files_dir = Path(seeded.server.app_root or ".") / ".files" / seeded.client.session_id
    n_before = len(list(files_dir.glob("*"))) if files_dir.exists() else 0
    status, sent, took = await raw_upload(seeded.server, seeded.client, "export.zip",
                                          4 << 20, send_limit=2 << 20, hang_up=True)
    await asyncio.sleep(1.0)
    n_after = len(list(files_dir.glob("*"))) if files_dir.exists() else 0
    answers, _ = await _still_answers(seeded.client)
    same = before == seeded.state(before)
    record.case("cut_off_upload", f"client hung up after {sent >> 20} MiB; "
                f"{n_after - n_before} file(s) persisted; server answered next message",
                answers and same and n_after == n_before)
    assert answers and same
    assert n_after == n_before


@pytest.mark.asyncio(loop_scope="session")
async def test_two_uploads_at_once(seeded: Seeded, record) -> None:
    """Two tabs of one user upload at the same moment: one import runs, the other is told
    to wait; the result is one complete dataset (the one that ran)."""
    big = seeded.files / "two_a.zip"
    write_zip(big, GenConfig(seed=21, days=120, scale=0.6, travel=False))
    other = seeded.files / "two_b.zip"
    write_zip(other, GenConfig(seed=22, days=30, scale=0.2, travel=False))
    tab2 = await ChatClient.local(seeded.server.base)
    await tab2.connect()
    try:
        (s1, t1), (s2, t2) = await asyncio.gather(seeded.client.import_file(big, timeout=120),
                                                  tab2.import_file(other, timeout=120))
    finally:
        await tab2.close()
    texts = [t1, t2]
    imported = [t for t in texts if t.startswith("**Imported")]
    refused = [t for t in texts if "already running" in t or "still running" in t]
    r = raw_client(seeded.server.redis_url)
    try:
        staging = list(r.scan_iter(match=f"user:{seeded.user}:staging:*"))
        lock = r.exists(f"user:{seeded.user}:import:lock")
    finally:
        r.close()
    answers, _ = await _still_answers(seeded.client)
    ok = len(imported) >= 1 and len(imported) + len(refused) == 2 and not staging and not lock
    record.case("two_uploads_at_once", " / ".join(t[:90] for t in texts), ok and answers)
    assert ok, texts
    assert answers


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("case", VALID)
async def test_valid_variant_imports(seeded: Seeded, case: str, record) -> None:
    """Unusual but valid exports import through the web path; conversation untouched."""
    path = hostile.HOSTILE_CASES[case](seeded.files)
    r = raw_client(seeded.server.redis_url)
    try:
        conv = [p for p in user_patterns(seeded.user) if p.startswith("checkpoint")]
        before = snapshot(r, conv)
        status, text = await seeded.client.import_file(path, timeout=60)
        after = snapshot(r, conv)
        staging = list(r.scan_iter(match=f"user:{seeded.user}:staging:*"))
    finally:
        r.close()
    ok = status == 200 and text.startswith("**Imported") and not staging
    answers, _ = await _still_answers(seeded.client)
    record.case(case, text.split("\n")[0] + (" …" if "\n" in text else ""),
                ok and answers and before == after, expected=hostile.EXPECTED.get(case, ""))
    assert ok, text
    assert before == after
    assert answers


# -- raw HTTP (bounded sends the normal clients cannot do) -------------------------------------
async def raw_upload(server: AppServer, client: ChatClient, name: str, size: int, *,
                     send_limit: int, hang_up: bool = False,
                     timeout: float = 15.0) -> tuple[int, int, float]:
    """Announce a ``size``-byte multipart upload, send at most ``send_limit`` body bytes.

    Returns (HTTP status or 0 when none came, bytes sent, seconds until the answer).
    ``hang_up`` closes the socket after ``send_limit`` bytes (a cut-off transfer).
    """
    boundary = "reliabilityboundary7"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + size + len(tail)
    cookie = client.cookie_header()
    req = (f"POST /project/file?session_id={client.session_id} HTTP/1.1\r\n"
           f"Host: 127.0.0.1:{server.port}\r\nContent-Type: multipart/form-data; "
           f"boundary={boundary}\r\nContent-Length: {length}\r\nCookie: {cookie}\r\n"
           "Connection: close\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    t0 = time.monotonic()
    sent = 0
    status = 0
    try:
        writer.write(req + head)
        await writer.drain()
        chunk = b"\0" * (1 << 20)
        read_task = asyncio.ensure_future(reader.readline())
        while sent < send_limit and not read_task.done():
            try:
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 5)
            except (ConnectionError, asyncio.TimeoutError):
                break
            sent += len(chunk)
            await asyncio.sleep(0)
        if hang_up:
            read_task.cancel()
            writer.transport.abort()
            return 0, sent, time.monotonic() - t0
        try:
            line = await asyncio.wait_for(read_task, timeout)
        except asyncio.TimeoutError:
            line = b""
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            status = int(parts[1])
    finally:
        if not writer.is_closing():
            writer.close()
    return status, sent, time.monotonic() - t0


def test_refused_upload_sentence_shown_in_browser(app_server: AppServer, module_tmp: Path,
                                                  record) -> None:
    """A refused upload (0-byte file → 400 from the upload guard) shows its one sentence in
    the real UI: Chainlit's upload toast carries the guard's ``detail``."""
    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("no /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    empty = module_tmp / "browser-empty" / "export.xml"
    empty.parent.mkdir(exist_ok=True)
    empty.write_bytes(b"")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(app_server.base)
            page.wait_for_selector("#chat-input", timeout=30000)
            page.wait_for_timeout(1000)
            page.set_input_files("#upload-button-input", str(empty))
            body = ""
            for _ in range(30):
                page.wait_for_timeout(500)
                body = page.inner_text("body")
                if "Failed to upload" in body:
                    break
        finally:
            browser.close()
    line = next((ln for ln in body.splitlines() if "Failed to upload" in ln), body[-300:])
    ok = "empty or could not be read" in line and UNTOUCHED in line
    record.case("0-byte file in the browser", line, ok)
    assert ok, line
