"""Open an export (zip, XML file, gzip'd XML or directory) as one binary stream.

Why: users upload ``export.zip`` with localized member names (``exportar.xml``, ``导出.xml``)
or unzip it first; we find the HealthData XML by sniffing content, never by name, and read
zip members as streams (no extraction, so no zip-slip and no disk blow-up). Zip bombs are
refused from the central directory before any decompression (total size, per-member ratio,
entry count), and the stream is capped again while reading.
"""

from __future__ import annotations

import gzip
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from wellness.healthkit.errors import (
    NotHealthExport,
    TruncatedExport,
    UnsafeInput,
    ZipBombDetected,
)
from wellness.healthkit.safety import looks_like_health_export

SNIFF_BYTES = 4096
SIDE_DIRS = ("workout-routes/", "electrocardiograms/", "clinical-records/")


@dataclass(frozen=True)
class Limits:
    """Caps that no real export comes near (largest seen: ~4 GB XML, ~2,000 members, 20×)."""

    max_uncompressed: int = 32 * 1024**3
    max_ratio: float = 200.0
    max_entries: int = 100_000
    ratio_min_size: int = 1024 * 1024   # tiny members may compress absurdly well; ignore them


@dataclass
class ExportStream:
    stream: BinaryIO
    total_bytes: int | None     # uncompressed XML size when known
    name: str                   # member or file name (for the import history)
    input_bytes: int            # size of what the user gave us


class _CappedReader:
    """Wraps a member stream: refuses to produce more than ``cap`` bytes."""

    def __init__(self, raw: BinaryIO, cap: int) -> None:
        self._raw = raw
        self._cap = cap
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._raw.read(n)
        except zipfile.BadZipFile as exc:
            raise TruncatedExport(detail=f"zip member damaged: {type(exc).__name__}") from exc
        except (EOFError, OSError) as exc:
            raise TruncatedExport(detail=f"zip member ends early: {type(exc).__name__}") from exc
        self.read_bytes += len(data)
        if self.read_bytes > self._cap:
            raise ZipBombDetected(detail="member expands beyond its declared size")
        return data

    def close(self) -> None:
        self._raw.close()


def _member_depth(name: str) -> int:
    return name.strip("/").count("/")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def _escapes(name: str) -> bool:
    """A member name that would land outside the target if extracted (zip slip).

    Why refuse even though we never extract: Apple never writes such names, so their presence
    means a crafted file (hostile.py contract), and refusing keeps the contract simple.
    """
    n = name.replace("\\", "/")
    return n.startswith("/") or (len(n) > 1 and n[1] == ":") or ".." in n.split("/")


def _check_zip(zf: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise ZipBombDetected(detail=f"{len(infos)} entries")
    total = 0
    for info in infos:
        if _escapes(info.filename):
            raise UnsafeInput("This zip contains file names that point outside the archive, "
                              "which Apple Health exports never do, so it was rejected for "
                              "safety.", detail="path traversal member name")
        total += info.file_size
        if total > limits.max_uncompressed:
            raise ZipBombDetected(detail="declared uncompressed size over the cap")
        if info.file_size >= limits.ratio_min_size:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise ZipBombDetected(detail=f"compression ratio {ratio:.0f}")
    return infos


def _candidates(infos: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    out = []
    for info in infos:
        name = info.filename.replace("\\", "/")
        if info.is_dir() or _is_symlink(info) or info.file_size == 0:
            continue
        if name.startswith("__MACOSX/") or "/__MACOSX/" in name or name.rsplit("/", 1)[-1].startswith("._"):
            continue
        if any(f"/{d}" in f"/{name}" for d in SIDE_DIRS) or _member_depth(name) > 3:
            continue
        out.append(info)
    # .xml names first (cheap), then anything else; larger files first within each group.
    out.sort(key=lambda i: (not i.filename.lower().endswith(".xml"), -i.file_size, i.filename))
    return out[:200]


@contextmanager
def _open_zip(path: Path, limits: Limits) -> Iterator[ExportStream]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise NotHealthExport("This zip file is damaged or incomplete, so it can't be read.",
                              detail="bad zip") from exc
    with zf:
        infos = _check_zip(zf, limits)
        chosen = None
        for info in _candidates(infos):
            if info.flag_bits & 0x1:
                raise NotHealthExport("This zip is password-protected; export again from the "
                                      "Health app without encryption.", detail="encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED,
                                          zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
                continue
            try:
                with zf.open(info) as fh:
                    head = fh.read(SNIFF_BYTES)
            except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError):
                continue
            if looks_like_health_export(head):
                chosen = info
                break
        if chosen is None:
            raise NotHealthExport(detail="no HealthData XML in the zip")
        raw = zf.open(chosen)
        capped = _CappedReader(raw, min(chosen.file_size, limits.max_uncompressed))
        try:
            yield ExportStream(capped, chosen.file_size,  # type: ignore[arg-type]
                               chosen.filename.rsplit("/", 1)[-1], path.stat().st_size)
        finally:
            capped.close()


def _find_in_dir(root: Path) -> Path:
    best: Path | None = None
    for dirpath, dirnames, filenames in os.walk(root):
        rel_depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if d != "__MACOSX" and rel_depth < 3
                             and f"{d}/" not in SIDE_DIRS)
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            if fn.startswith("._") or p.is_symlink() or not p.is_file():
                continue
            with open(p, "rb") as fh:
                if looks_like_health_export(fh.read(SNIFF_BYTES)):
                    if best is None or p.stat().st_size > best.stat().st_size:
                        best = p
    if best is None:
        raise NotHealthExport(detail="no HealthData XML in the directory")
    return best


@contextmanager
def open_export(path: str | os.PathLike[str], limits: Limits | None = None) -> Iterator[ExportStream]:
    """Yield the HealthData XML of ``path`` as a binary stream."""
    limits = limits or Limits()
    p = Path(path)
    if not p.exists():
        raise NotHealthExport(f"There is no file at {p}.", detail="missing")
    if p.is_dir():
        p = _find_in_dir(p)
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic.startswith(b"PK"):
        with _open_zip(p, limits) as es:
            yield es
        return
    if magic.startswith(b"\x1f\x8b"):
        gz = gzip.open(p, "rb")
        try:
            head = gz.peek(SNIFF_BYTES)[:SNIFF_BYTES]
        except (OSError, EOFError) as exc:
            gz.close()
            raise NotHealthExport(detail="bad gzip") from exc
        if not looks_like_health_export(head):
            gz.close()
            raise NotHealthExport(detail="gzip without HealthData")
        cap = min(limits.max_uncompressed,
                  max(limits.ratio_min_size, int(limits.max_ratio * p.stat().st_size)))
        capped = _CappedReader(gz, cap)  # type: ignore[arg-type]
        try:
            yield ExportStream(capped, None, p.name, p.stat().st_size)  # type: ignore[arg-type]
        finally:
            capped.close()
        return
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(SNIFF_BYTES * 16)
        fh.seek(0)
        if not looks_like_health_export(head):
            raise NotHealthExport(detail="no HealthData header in the first 64 KiB")
        if size > limits.max_uncompressed:
            raise UnsafeInput("This file is larger than any Apple Health export, so it was not "
                              "imported.", detail="xml over size cap")
        yield ExportStream(fh, size, p.name, size)
