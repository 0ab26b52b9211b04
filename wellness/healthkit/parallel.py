"""Parse one export on several cores by dealing top-level elements out to worker processes.

Why: parsing is CPU-bound in one Python thread (lxml callbacks + normalisation), and the
target machine has 2 cores. HealthData is a flat list of independent siblings, so the main
process cuts the byte stream at top-level element boundaries (a new line starting with
``" <"`` + a name — Apple writes one element per line, children indented deeper) and deals
the pieces round-robin to itself and ``workers - 1`` forked helper processes, each running
the normal strict parser and collector on ``<HealthData>`` + its pieces + ``</HealthData>``.
A sender thread per helper keeps a small queue of pieces ready, so nobody waits on a busy
peer. Helpers return compact column state that the main process merges (sources remapped
by key). Any surprise — a cut in the wrong place,
a malformed file, a worker crash — raises :class:`FallbackToSerial` and the caller re-parses
serially, which gives the exact, line-numbered error or the correct result. Safety checks
(prolog, caps, cancel) stay in the main process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import queue
import threading
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from lxml import etree

from wellness.healthkit.aggregate import Collector
from wellness.healthkit.errors import ImportCancelled
from wellness.healthkit.parser import HealthParser
from wellness.healthkit.reader import ExportStream
from wellness.healthkit.safety import PrologFilter
from wellness.healthkit.sources import SourceRegistry

READ_CHUNK = 1 << 20
PIECE = 4 << 20
MAIN_SHARE = 0.45  # of the pieces with 2 processes (main also reads and cuts)
FEED = 1 << 20   # libxml2's push parser refuses very large single feeds
_ROOT_TAG = re.compile(rb"<HealthData(\s[^>]*)?>")
_BOUNDARY = re.compile(rb"\n <[A-Za-z]")
_END = b"</HealthData>"


class FallbackToSerial(Exception):
    """The parallel path can't vouch for this input; parse it serially instead."""


def _worker(conn: Connection, spill_dir: str) -> None:
    sources = SourceRegistry()
    collector = Collector(sources, spill_dir=spill_dir)
    parser = HealthParser(collector, sources)
    try:
        parser.feed(b"<HealthData>")
        while True:
            data = conn.recv_bytes()
            if not data:
                break
            for i in range(0, len(data), FEED):
                parser.feed(data[i:i + FEED])
        parser.feed(_END, True)
        conn.send(("ok", collector.export_state(), dict(parser.warnings), parser.records))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which falls back
        try:
            conn.send(("error", type(exc).__name__, None, 0))
        except (OSError, ValueError):
            pass
    finally:
        conn.close()


def _last_boundary(buf: bytearray) -> int:
    """Index just after the newline of the last top-level element start, or -1."""
    end = len(buf)
    while True:
        pos = buf.rfind(b"\n <", 0, end)
        if pos < 0:
            return -1
        nxt = buf[pos + 3: pos + 4]
        if nxt.isalpha():
            return pos + 1
        end = pos


class _Sender(threading.Thread):
    """Feeds one helper process from a bounded queue (keeps memory and latency small)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(daemon=True)
        self.conn = conn
        self.q: queue.Queue[bytes | None] = queue.Queue(maxsize=3)
        self.failed = False

    def run(self) -> None:
        while True:
            piece = self.q.get()
            if piece is None:
                return
            if self.failed:
                continue
            try:
                self.conn.send_bytes(piece)
            except (OSError, ValueError):
                self.failed = True

    def put(self, piece: bytes) -> None:
        if self.failed:
            raise FallbackToSerial("helper gone")
        while True:
            try:
                self.q.put(piece, timeout=1.0)
                return
            except queue.Full:
                if self.failed or not self.is_alive():
                    raise FallbackToSerial("helper gone") from None


def parse_parallel(es: ExportStream, workers: int, collector: Collector,
                   cancel: threading.Event | None,
                   report: Callable[[int, int], None]) -> tuple[int, int, Counter[str]]:
    """Parse ``es`` with this process plus ``workers - 1`` helpers into ``collector``.

    Returns (xml bytes read, top-level elements, parser warnings).
    """
    # fork is cheap but unsafe when other threads exist (the chat app imports in a worker
    # thread: a lock held by another thread would stay locked in the child); spawn is safe
    # everywhere and costs ~0.5 s of start-up, small next to a file worth parallelising.
    # WELLNESS_IMPORT_START=fork|spawn|forkserver overrides (e.g. a child process whose
    # only other thread is a lock-free watchdog can safely fork).
    method = os.environ.get("WELLNESS_IMPORT_START", "").strip() or \
        ("fork" if threading.active_count() == 1 else "spawn")
    ctx = mp.get_context(method)
    conns: list[Connection] = []
    procs = []
    senders: list[_Sender] = []
    own = HealthParser(collector, collector.sources)
    try:
        for _ in range(workers - 1):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, collector.spill_dir()),
                               daemon=True)
            proc.start()
            child.close()
            conns.append(parent)
            procs.append(proc)
            sender = _Sender(parent)
            sender.start()
            senders.append(sender)
        prolog = PrologFilter()
        buf = bytearray()
        read = 0
        dealt = 0
        approx_records = 0
        root_done = False

        # The main process also reads, decompresses and cuts, so it parses a little less
        # than an equal share (deterministic weighted round-robin).
        own_share = MAIN_SHARE / workers * 2 if workers > 1 else 1.0
        credit = 0.0
        helper_turn = 0

        def deal(piece: bytes) -> None:
            nonlocal dealt, approx_records, credit, helper_turn
            dealt += 1
            approx_records += piece.count(b"\n <")
            credit += own_share
            if credit >= 1.0:
                credit -= 1.0
                k = 0
            else:
                k = 1 + helper_turn % (workers - 1)
                helper_turn += 1
            if k == 0:
                try:
                    for i in range(0, len(piece), FEED):
                        own.feed(piece[i:i + FEED])
                except Exception as exc:  # noqa: BLE001 - the serial parse reports it properly
                    raise FallbackToSerial(type(exc).__name__) from exc
            else:
                senders[k - 1].put(piece)

        while True:
            if cancel is not None and cancel.is_set():
                raise ImportCancelled(detail="cancelled by the user")
            chunk = es.stream.read(READ_CHUNK)
            if not chunk:
                break
            read += len(chunk)
            data = prolog.feed(chunk)
            if not data:
                continue
            buf += data
            if not root_done:
                m = _ROOT_TAG.search(buf)
                if m is None:
                    if len(buf) > 1 << 16:
                        raise FallbackToSerial("root tag not found")
                    continue
                if m.group(0).endswith(b"/>"):
                    raise FallbackToSerial("empty root")
                head = bytes(buf[: m.start()]).strip()
                if head and not (head.startswith(b"<?xml") and head.endswith(b"?>")):
                    raise FallbackToSerial("unexpected prolog")
                try:
                    root = etree.fromstring(m.group(0)[:-1] + b"/>")
                except etree.XMLSyntaxError as exc:
                    raise FallbackToSerial("bad root tag") from exc
                try:
                    own.feed(b"<HealthData>")
                except Exception as exc:  # noqa: BLE001
                    raise FallbackToSerial(type(exc).__name__) from exc
                collector.locale(root.get("locale"))
                del buf[: m.end()]
                root_done = True
            if len(buf) >= PIECE:
                cut = _last_boundary(buf)
                if cut > 0:
                    deal(bytes(buf[:cut]))
                    del buf[:cut]
            report(read, approx_records)
        prolog.finish()
        tail = bytes(buf).rstrip()
        if not root_done or not tail.endswith(_END):
            raise FallbackToSerial("no closing root tag")
        tail = tail[: -len(_END)]
        if tail.strip():
            deal(tail)
        for sender in senders:
            sender.put(b"")
            sender.q.put(None)
        try:
            own.feed(_END, True)
        except Exception as exc:  # noqa: BLE001
            raise FallbackToSerial(type(exc).__name__) from exc
        states: list[tuple[Any, ...]] = []
        for c in conns:
            try:
                states.append(c.recv())
            except (EOFError, OSError) as exc:
                raise FallbackToSerial("helper died") from exc
        if any(s[0] != "ok" for s in states):
            raise FallbackToSerial("a helper could not parse its part")
        warnings: Counter[str] = Counter(own.warnings)
        records = own.records
        for _, state, warn, n in states:
            collector.absorb(state)
            warnings.update(warn)
            records += n
        return read, records, warnings
    finally:
        for sender in senders:
            try:
                sender.q.put_nowait(None)
            except queue.Full:
                pass
        for c in conns:
            c.close()
        for p in procs:
            p.join(timeout=2)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2)
