"""Prolog handling: strip the internal DTD subset and refuse anything entity-shaped.

Why: Apple's DTD carries no data, is syntactically broken in iOS 16 exports (Export
Version 12), and is the only place an XML entity or external reference could hide. Cutting
everything between the XML declaration and ``<HealthData`` fixes the iOS 16 breakage and
removes the XXE / billion-laughs surface in one step; the body is then parsed strictly, so
any ``&name;`` left in it fails as an undefined entity. We reject (not silently drop) a
prolog that declares entities or external ids, because a real export never does.
"""

from __future__ import annotations

import re

from wellness.healthkit.errors import NotHealthExport, TruncatedExport, UnsafeInput

MAX_PROLOG_BYTES = 4 * 1024 * 1024
_ROOT = re.compile(rb"<HealthData[\s>/]")
_FORBIDDEN = re.compile(rb"<!ENTITY|\bSYSTEM\b|\bPUBLIC\b|%[A-Za-z_:][\w.:-]*;")
_XML_DECL = re.compile(rb"^\s*(<\?xml[^>]*\?>)")
# XML 1.0 forbids these control characters; exports sometimes contain them (jameno PR #3).
CONTROL_BYTES = bytes(range(0, 9)) + b"\x0b\x0c" + bytes(range(0x0E, 0x20))
BOM = b"\xef\xbb\xbf"


def looks_like_health_export(head: bytes) -> bool:
    """Content sniff used to pick the HealthData XML in a zip or directory."""
    if head.startswith(BOM):
        head = head[3:]
    return b"<!DOCTYPE HealthData" in head or _ROOT.search(head) is not None


class PrologFilter:
    """Feed raw chunks; get back a byte stream with the DOCTYPE removed.

    ``feed`` returns bytes to hand to the XML parser (empty while the prolog is still being
    collected); ``finish`` checks the input did contain a HealthData root.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, chunk: bytes) -> bytes:
        if self._done:
            return chunk.translate(None, CONTROL_BYTES)
        self._buf += chunk
        m = _ROOT.search(self._buf)
        if m is None:
            if len(self._buf) > MAX_PROLOG_BYTES:
                self._reject_prolog(bytes(self._buf))
                raise NotHealthExport(detail="no HealthData root in the first 4 MiB")
            return b""
        prolog = bytes(self._buf[: m.start()])
        body = bytes(self._buf[m.start():])
        self._buf = bytearray()
        self._done = True
        self._reject_prolog(prolog)
        if prolog.startswith(BOM):
            prolog = prolog[3:]
        decl = _XML_DECL.match(prolog)
        head = decl.group(1) + b"\n" if decl else b""
        return head + body.translate(None, CONTROL_BYTES)

    @staticmethod
    def _reject_prolog(prolog: bytes) -> None:
        if _FORBIDDEN.search(prolog):
            raise UnsafeInput(detail="entity or external reference in the prolog")

    def finish(self) -> None:
        if self._done:
            return
        data = bytes(self._buf)
        self._reject_prolog(data)
        if not data.strip():
            raise NotHealthExport("This file is empty, so there is nothing to import.",
                                  detail="empty input")
        if b"<!DOCTYPE HealthData" in data:
            raise TruncatedExport(detail="input ended inside the prolog")
        raise NotHealthExport(detail="no HealthData root")
