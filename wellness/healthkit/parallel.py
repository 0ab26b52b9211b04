"""Parse one export on several cores by dealing top-level elements out to worker processes.

Why: parsing is CPU-bound in one Python thread (lxml callbacks + normalisation), and the
target machine has 2 cores. HealthData is a flat list of independent siblings, so the main
process cuts the byte stream at top-level element boundaries (a new line starting with
``" <"`` + a name — Apple writes one element per line, children indented deeper) and hands
the pieces alternately to workers, each running the normal strict parser and collector on
``<HealthData>`` + its pieces + ``</HealthData>``. Workers return compact column state that
the main process merges (sources remapped by key). Any surprise — a cut in the wrong place,
a malformed file, a worker crash — raises :class:`FallbackToSerial` and the caller re-parses
serially, which gives the exact, line-numbered error or the correct result. Safety checks
(prolog, caps, cancel) stay in the main process.
"""

from __future__ import annotations

import multiprocessing as mp
import re
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
FEED = 1 << 20   # libxml2's push parser refuses very large single feeds
_ROOT_TAG = re.compile(rb"<HealthData(\s[^>]*)?>")
_BOUNDARY = re.compile(rb"\n <[A-Za-z]")
_END = b"</HealthData>"


class FallbackToSerial(Exception):
    """The parallel path can't vouch for this input; parse it serially instead."""


def _worker(conn: Connection) -> None:
    sources = SourceRegistry()
    collector = Collector(sources)
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


def parse_parallel(es: ExportStream, workers: int, collector: Collector,
                   cancel: threading.Event | None,
                   report: Callable[[int, int], None]) -> tuple[int, int, Counter[str]]:
    """Parse ``es`` with ``workers`` processes into ``collector``.

    Returns (xml bytes read, top-level elements, parser warnings).
    """
    ctx = mp.get_context("fork")
    conns: list[Connection] = []
    procs = []
    try:
        for _ in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child,), daemon=True)
            proc.start()
            child.close()
            conns.append(parent)
            procs.append(proc)
        prolog = PrologFilter()
        buf = bytearray()
        read = 0
        sent = 0
        approx_records = 0
        root_done = False

        def send(piece: bytes) -> None:
            nonlocal sent, approx_records
            try:
                conns[sent % workers].send_bytes(piece)
            except (OSError, ValueError) as exc:
                raise FallbackToSerial("worker gone") from exc
            sent += 1
            approx_records += piece.count(b"\n <")

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
                collector.locale(root.get("locale"))
                del buf[: m.end()]
                root_done = True
            if len(buf) >= PIECE:
                cut = _last_boundary(buf)
                if cut > 0:
                    send(bytes(buf[:cut]))
                    del buf[:cut]
            report(read, approx_records)
        prolog.finish()
        tail = bytes(buf).rstrip()
        if not root_done or not tail.endswith(_END):
            raise FallbackToSerial("no closing root tag")
        tail = tail[: -len(_END)]
        if tail.strip():
            send(tail)
        for c in conns:
            c.send_bytes(b"")
        states: list[tuple[Any, ...]] = []
        for c in conns:
            try:
                states.append(c.recv())
            except (EOFError, OSError) as exc:
                raise FallbackToSerial("worker died") from exc
        if any(s[0] != "ok" for s in states):
            raise FallbackToSerial("a worker could not parse its part")
        warnings: Counter[str] = Counter()
        records = 0
        for _, state, warn, n in states:
            collector.absorb(state)
            warnings.update(warn)
            records += n
        return read, records, warnings
    finally:
        for c in conns:
            c.close()
        for p in procs:
            p.join(timeout=2)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2)
