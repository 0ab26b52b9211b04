"""Security (issue #7 §3): isolation between users, sessions, password storage, login
throttling, inert rendering of hostile names, clean logs, a private embedded Redis.

One password-mode server on the session Redis; users are created with the real CLI
(``wellness users add --password-stdin``). User A imports an export with canary values and
hostile source names, chats and sets a goal; user B then tries every route to A's things.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import jwt
import pytest
import pytest_asyncio
import redis
import socketio

from tests.healthgen import hostile
from tests.reliability.harness import AppServer, ChatClient, raw_client, snapshot, user_patterns

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHROMIUM = "/usr/bin/chromium"
SECRET = "reliability-suite-secret-" + "x" * 40
XSS_SCRIPT = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
XSS_MD = "**bold** [click](javascript:window.__xss=3) <b>tag</b> `code` ![i](x)"
CANARY_SOURCE = "CanarySrcQ7Z"
CANARY_VALUE = "73.4567"
API_KEY = "sk-reliability-secret-key-1234567890abcdef"


def _xml_attr(s: str) -> bytes:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;")).encode()


def hostile_names_export(d: Path) -> Path:
    """The base export with hostile source names and one canary BodyMass reading."""
    x = hostile.base_xml()
    x = x.replace('sourceName="Jane’s iPhone"'.encode(),
                  b'sourceName="' + _xml_attr(XSS_SCRIPT) + b'"')
    x = x.replace(b'sourceName="MyFitnessPal"', b'sourceName="' + _xml_attr(XSS_MD) + b'"')
    canary = (f' <Record type="HKQuantityTypeIdentifierBodyMass" sourceName="{CANARY_SOURCE}" '
              f'unit="kg" creationDate="2024-01-02 08:00:00 -0800" '
              f'startDate="2024-01-02 08:00:00 -0800" endDate="2024-01-02 08:00:00 -0800" '
              f'value="{CANARY_VALUE}"/>\n').encode()
    x = x.replace(b"</HealthData>", canary + b"</HealthData>")
    p = d / "names_export.xml"
    p.write_bytes(x)
    return p


def cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wellness.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


class World:
    def __init__(self, server: AppServer, a: str, b: str, pw: dict[str, str],
                 env: dict[str, str], files: Path) -> None:
        self.server = server
        self.a, self.b = a, b
        self.pw = pw
        self.env = env
        self.files = files
        self.a_client: ChatClient | None = None
        self.a_thread = ""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(redis_url: str, module_tmp: Path) -> AsyncIterator[World]:
    suffix = uuid.uuid4().hex[:6]
    a, b, c = f"alice{suffix}", f"bob{suffix}", f"carol{suffix}"
    pw = {a: "alice-pass-" + suffix, b: "bob-pass-" + suffix, c: "carol-pass-" + suffix}
    server = AppServer(redis_url, module_tmp / "sec",
                       env_extra={"WELLNESS_AUTH": "password", "WELLNESS_LOG_LEVEL": "DEBUG"})
    server.workdir.mkdir(parents=True, exist_ok=True)
    server.start()
    env = server.env()
    for user in (a, b, c):
        res = cli(["users", "add", user, "--password-stdin"], env, pw[user] + "\n")
        assert res.returncode == 0, res.stderr + res.stdout
    files = module_tmp / "secfiles"
    files.mkdir(exist_ok=True)
    w = World(server, a, b, pw, env, files)
    w.carol = c  # type: ignore[attr-defined]
    r = await ChatClient.login(server.base, a, pw[a])
    assert r.status_code == 200, r.text
    ca = ChatClient(server.base, cookies=dict(r.cookies))
    await ca.connect()
    status, text = await ca.import_file(hostile_names_export(files))
    assert text.startswith("**Imported"), text
    await ca.send("Set a goal to walk 11000 steps a day")
    await ca.send("What was my last workout?")
    w.a_client, w.a_thread = ca, ca.first_thread or ""
    yield w
    await ca.close()
    server.stop()


async def _login(w: World, user: str) -> ChatClient:
    r = await ChatClient.login(w.server.base, user, w.pw[user])
    assert r.status_code == 200, r.text
    return ChatClient(w.server.base, cookies=dict(r.cookies))


@pytest.mark.asyncio(loop_scope="session")
async def test_user_b_cannot_reach_user_a(world: World, record) -> None:
    """Thread resume by id, thread/element URLs, the thread list, upload into A's session,
    the agent's tools, goals and the CLI: B never sees A's conversation, data or memories."""
    w = world
    r = raw_client(w.server.redis_url)
    before = snapshot(r, user_patterns(w.a))
    elements = [e.decode() for e in r.smembers(f"cl:thread:{w.a_thread}:elements")]
    r.close()
    results: dict[str, bool] = {}
    b = await _login(w, w.b)
    # 1. resume A's thread over the socket
    spy = ChatClient(w.server.base, cookies=b.cookies, thread_id=w.a_thread)
    try:
        await spy.connect()
        await spy.sio.sleep(1.0)
        leaked = any(w.a_thread and ("Imported" in s.content or "goal" in s.content.lower())
                     for s in spy.shown.values())
        results["socket resume of A's thread refused"] = not leaked
    except socketio.exceptions.ConnectionError:
        results["socket resume of A's thread refused"] = True
    finally:
        await spy.close()
    async with httpx.AsyncClient(base_url=w.server.base, cookies=b.cookies, timeout=20) as http:
        # 2. thread by id, thread list, elements, A's session upload
        g = await http.get(f"/project/thread/{w.a_thread}")
        results[f"GET /project/thread/<A> → {g.status_code}"] = g.status_code in (401, 403, 404)
        lst = await http.post("/project/threads", json={"pagination": {"first": 50},
                                                         "filter": {}})
        results["A's thread absent from B's list"] = w.a_thread not in lst.text
        for el in elements[:3]:
            e = await http.get(f"/project/thread/{w.a_thread}/element/{el}")
            results[f"GET element of A → {e.status_code}"] = e.status_code in (401, 403, 404)
        assert w.a_client is not None
        up = await http.post("/project/file", params={"session_id": w.a_client.session_id},
                             files={"file": ("x.xml", b"<HealthData/>", "text/xml")})
        results[f"upload into A's session → {up.status_code}"] = up.status_code in (401, 403, 404)
    # 3. the agent's tools and memories as B
    await b.connect()
    mark = b.mark()
    await b.send("How many steps did I take in total?")
    await b.send("What are my goals?")
    await b.send("What was my last workout?")
    texts = " ".join(b.texts_since(mark))
    results["B's answers carry none of A's data/goals"] = (
        "11000" not in texts and "11,000" not in texts and CANARY_SOURCE not in texts
        and "Running" not in texts)
    await b.close()
    # 4. the CLI as B, even on A's chat thread id
    res = cli(["ask", "--user", w.b, "--thread", w.a_thread, "What are my goals?"], w.env)
    res2 = cli(["ask", "--user", w.b, "How many workouts did I do?"], w.env)
    out = res.stdout + res2.stdout
    results["CLI as B (even on A's thread id) sees nothing of A"] = (
        res.returncode == 0 and "11000" not in out and "11,000" not in out)
    r = raw_client(w.server.redis_url)
    after = snapshot(r, user_patterns(w.a))
    r.close()
    results["A's keys byte-identical after B's attempts"] = before == after
    for name, ok in results.items():
        record.case(name, "blocked" if ok else "LEAK", ok)
    assert all(results.values()), results


@pytest.mark.asyncio(loop_scope="session")
async def test_sessions_expire_and_tokens_are_checked(world: World, record) -> None:
    """An expired or foreign-signed token is refused by HTTP and the socket; logout works."""
    w = world
    now = datetime.now(timezone.utc)
    claims = {"identifier": w.a, "metadata": {"provider": "password"}, "display_name": None}
    expired = jwt.encode({**claims, "exp": now - timedelta(minutes=1)}, SECRET, algorithm="HS256")
    forged = jwt.encode({**claims, "exp": now + timedelta(days=1)}, "not-the-secret" * 4,
                        algorithm="HS256")
    valid = jwt.encode({**claims, "exp": now + timedelta(minutes=5)}, SECRET, algorithm="HS256")
    out = {}
    for name, token in (("expired", expired), ("forged", forged), ("valid", valid)):
        c = ChatClient(w.server.base, cookies={"access_token": token})
        try:
            await c.connect()
            out[name] = "connected"
        except socketio.exceptions.ConnectionError:
            out[name] = "refused"
        finally:
            await c.close()
        async with httpx.AsyncClient(base_url=w.server.base, timeout=10) as http:
            u = await http.get("/user", cookies={"access_token": token})
            out[name + "_http"] = u.status_code
    lifetime = None
    cfg = (Path(w.server.app_root or ".") / ".chainlit" / "config.toml").read_text()
    m = re.search(r"^user_session_timeout\s*=\s*(\d+)", cfg, re.M)
    if m:
        lifetime = int(m.group(1))
    ok = (out["expired"] == "refused" and out["forged"] == "refused"
          and out["valid"] == "connected" and out["expired_http"] == 401
          and out["forged_http"] == 401 and out["valid_http"] == 200)
    record.case("expired/forged tokens", str(out), ok)
    record.figure("session_lifetime_s", lifetime)
    assert ok, out


@pytest.mark.asyncio(loop_scope="session")
async def test_passwords_hashed_and_login_throttled(world: World, record) -> None:
    """scrypt hashes only (no plaintext anywhere in Redis); the 6th wrong password locks
    the account name for a while, even for the right password."""
    w = world
    r = redis.Redis.from_url(w.server.redis_url, decode_responses=False)
    stored = r.hgetall(f"cl:password:{w.a}")
    plain_found = []
    for pattern in ("cl:*", f"user:{w.a}:*", f"user:{w.b}:*"):
        for k in r.scan_iter(match=pattern, count=2000):
            t = r.type(k).decode()
            blob = b""
            if t == "string":
                blob = r.get(k) or b""
            elif t == "hash":
                blob = b" ".join(v for kv in r.hgetall(k).items() for v in kv)
            if any(p.encode() in blob for p in w.pw.values()):
                plain_found.append(k.decode())
    hashed = stored.get(b"hash", b"").startswith(b"scrypt$")
    record.case("password storage", f"hash field starts with scrypt$: {hashed}; plaintext "
                f"found in {len(plain_found)} keys", hashed and not plain_found)
    carol = w.carol  # type: ignore[attr-defined]
    codes = []
    t0 = time.monotonic()
    for _ in range(6):
        codes.append((await ChatClient.login(w.server.base, carol, "wrong-password")).status_code)
    right = (await ChatClient.login(w.server.base, carol, w.pw[carol])).status_code
    took = time.monotonic() - t0
    ttl = r.ttl(f"cl:login_attempts:{carol}")
    r.close()
    throttled = right != 200 and all(c in (401, 403) for c in codes)
    record.case("brute force", f"6 wrong logins → {codes}; right password then → {right}; "
                f"lockout TTL {ttl}s; {took:.1f}s for 7 attempts", throttled)
    assert hashed and not plain_found, plain_found
    assert throttled, (codes, right)


def test_hostile_names_rendered_inert_in_browser(world: World, record) -> None:
    """A's import summary and answers contain <script>, onerror and markdown-link source
    names: in Chromium no script runs and the text is shown literally."""
    if not Path(CHROMIUM).exists():
        pytest.skip("no /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    w = world
    out_png = Path(__file__).resolve().parents[2] / "test-output" / "reliability-xss.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                          "--disable-background-networking", "--disable-sync"])
        try:
            ctx = browser.new_context()
            page = ctx.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(w.server.base + "/login")
            page.fill("#email", w.a)
            page.fill("#password", w.pw[w.a])
            page.keyboard.press("Enter")
            page.wait_for_selector("#chat-input", timeout=30000)
            page.goto(f"{w.server.base}/thread/{w.a_thread}")
            page.wait_for_function("document.body.innerText.includes('Imported')", timeout=30000)
            page.wait_for_timeout(1500)
            body = page.inner_text("body")
            xss = page.evaluate("window.__xss")
            scripts = page.evaluate(
                "Array.from(document.querySelectorAll('script')).filter(s => "
                "s.textContent.includes('__xss')).length")
            js_links = page.evaluate(
                "Array.from(document.querySelectorAll('a')).filter(a => "
                "(a.getAttribute('href') || '').startsWith('javascript')).length")
            imgs = page.evaluate("Array.from(document.querySelectorAll('img')).filter(i => "
                                 "(i.getAttribute('onerror') || '').includes('__xss')).length")
            out_png.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(out_png), full_page=True)
        finally:
            browser.close()
    literal = all(t in body for t in ("<script>window.__xss=1</script>", "onerror=",
                                      "**bold**", "[click](javascript:window.__xss=3)",
                                      "<b>tag</b>"))
    ok = xss is None and not scripts and not js_links and not imgs and not dialogs and literal
    record.case("<script>/onerror/markdown source names", f"window.__xss={xss}; script nodes "
                f"{scripts}; javascript: links {js_links}; onerror imgs {imgs}; dialogs "
                f"{len(dialogs)}; names shown literally: {literal}", ok)
    assert ok, body[:2000]


@pytest.mark.asyncio(loop_scope="session")
async def test_logs_hold_no_health_values_or_secrets(world: World, redis_url: str, record) -> None:
    """The DEBUG log of the whole run (imports, chats, logins, CLI) contains no canary health
    value or source name, no Redis password, no auth secret, no user password."""
    w = world
    log = w.server.log_text()
    redis_pw = redis_url.split(":")[2].split("@")[0]
    needles = {"canary value": CANARY_VALUE, "canary source": CANARY_SOURCE,
               "redis password": redis_pw, "auth secret": SECRET,
               **{f"password of {u}": p for u, p in w.pw.items()}}
    found = {name: log.count(n) for name, n in needles.items() if n and n in log}
    record.case("log scan", f"{len(log.splitlines())} log lines scanned for {len(needles)} "
                f"secrets/values; found: {found or 'none'}", not found)
    record.figure("log_lines", len(log.splitlines()))
    assert not found, found


def test_embedded_redis_private(tmp_path: Path, record) -> None:
    """The embedded Redis listens on 127.0.0.1 only and refuses unauthenticated clients."""
    import psutil

    from wellness.store.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path, started_by="test")
    url = server.start()
    try:
        st = server.state()
        assert st is not None
        addrs = {c.laddr.ip for c in psutil.Process(st.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN}
        anon = redis.Redis(host="127.0.0.1", port=st.port, socket_timeout=2)
        try:
            anon.ping()
            refused = False
        except redis.AuthenticationError:
            refused = True
        finally:
            anon.close()
        ok = addrs <= {"127.0.0.1"} and refused and redis.Redis.from_url(url).ping()
        record.case("embedded redis", f"listening on {sorted(addrs)}; unauthenticated PING "
                    f"refused: {refused}", ok)
        assert ok
    finally:
        server.stop()

