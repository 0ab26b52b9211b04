"""Builders for hostile, broken and unusual export files (apple-health-format.md §5.3).

Why: the importer must either import these correctly or refuse them fast with a typed
error, without reading local files, touching the network, writing outside its temp dir or
running out of memory. Every builder takes a directory, writes exactly one file into it and
returns that file's path, so tests can parametrize over :data:`HOSTILE_CASES`:

* :data:`VALID_VARIANTS` — must import successfully. The XML-based ones are transforms of
  one small base export (:data:`BASE_CONFIG`), so they must yield the same record counts
  as :func:`base_truth` (``healthdata_empty`` yields zero records).
* :data:`REJECTED` — must be rejected (typed error, nothing stored, < a few seconds).
* :data:`PARTIAL` — ``bad_records``: must import with per-record warnings; aggregates equal
  :func:`base_truth`, counts within :func:`bad_records_count_bounds` (see BAD_RECORDS).

:data:`EXPECTED` gives the one-line expectation per case. Policy choices made here (they
are the importer's contract unless the team decides otherwise): UTF-16 files are rejected
(Apple always writes UTF-8); ``\\x0b`` control characters are sanitized (real iOS exports
contained them); zips with path-traversal member names are rejected as hostile even though
nothing needs extracting; a nested ``export.zip`` inside the zip is not recursed into;
a zip symlink member is ignored; an empty ``<HealthData/>`` is a valid export with no data.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Callable

from .dtd import dtd_text
from .generator import GenConfig, GroundTruth, write_export

__all__ = ["HOSTILE_CASES", "VALID_VARIANTS", "REJECTED", "EXPECTED", "BASE_CONFIG",
           "BAD_RECORDS", "PARTIAL", "V12_BASED", "bad_records_count_bounds", "base_truth",
           "base_xml", "build_all"]

#: The small export every XML-level variant is derived from (~300 KB, 4 days, 4 workouts:
#: interval, new-style, attributes+statistics, third-party).
BASE_CONFIG = GenConfig(seed=12, days=4, scale=0.1, export_version=14, travel=False)

_base_cache: dict[tuple, tuple[bytes, GroundTruth]] = {}


def _base(version: int = 14) -> tuple[bytes, GroundTruth]:
    key = (version,)
    if key not in _base_cache:
        buf = io.BytesIO()
        cfg = GenConfig(**{**BASE_CONFIG.__dict__, "export_version": version})
        truth = write_export(buf, cfg)
        _base_cache[key] = (buf.getvalue(), truth)
    return _base_cache[key]


def base_xml(version: int = 14) -> bytes:
    """The base export bytes (v14 by default; v12 for the iOS 16 DTD variants)."""
    return _base(version)[0]


def base_truth(version: int = 14) -> GroundTruth:
    """Ground truth of the base export: what every XML-level valid variant must import."""
    return _base(version)[1]


def _split(xml: bytes) -> tuple[bytes, bytes, bytes]:
    """(prolog line, DOCTYPE block, body from <HealthData)."""
    i = xml.index(b"<!DOCTYPE")
    j = xml.index(b"]>\n", i) + 3
    return xml[:i], xml[i:j], xml[j:]


def _write(d: Path, name: str, data: bytes) -> Path:
    p = Path(d) / name
    p.write_bytes(data)
    return p


def _body() -> bytes:
    return _split(base_xml())[2]


_PROLOG = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_TINY_BODY = (b'<HealthData locale="en_US">\n'
              b' <ExportDate value="2024-10-22 08:15:32 -0700"/>\n'
              b' <Record type="HKQuantityTypeIdentifierStepCount" sourceName="X" unit="count"'
              b' startDate="2024-10-22 08:00:00 -0700" endDate="2024-10-22 08:01:00 -0700"'
              b' value="%s"/>\n</HealthData>\n')

# ---------------------------------------------------------------------------------------
# Entity / DTD attacks (all REJECTED)


def billion_laughs(d: Path) -> Path:
    ents = [b'<!ENTITY lol0 "lol">']
    for k in range(1, 10):
        ents.append(b'<!ENTITY lol%d "%s">' % (k, (b"&lol%d;" % (k - 1)) * 10))
    dtd = b"<!DOCTYPE HealthData [\n" + b"\n".join(ents) + b"\n]>\n"
    return _write(d, "billion_laughs.xml", _PROLOG + dtd + _TINY_BODY % b"&lol9;")


def quadratic_blowup(d: Path) -> Path:
    dtd = b'<!DOCTYPE HealthData [\n<!ENTITY a "' + b"a" * 100_000 + b'">\n]>\n'
    body = (b'<HealthData locale="en_US">\n<ExportDate value="2024-10-22 08:15:32 -0700"/>\n'
            + b"&a;" * 100_000 + b"\n</HealthData>\n")
    return _write(d, "quadratic_blowup.xml", _PROLOG + dtd + body)


def xxe_file(d: Path) -> Path:
    dtd = b'<!DOCTYPE HealthData [\n<!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n'
    body = _TINY_BODY.replace(b"</HealthData>", b"&xxe;\n</HealthData>") % b"1"
    return _write(d, "xxe_file.xml", _PROLOG + dtd + body)


def xxe_http(d: Path) -> Path:
    dtd = b'<!DOCTYPE HealthData [\n<!ENTITY xxe SYSTEM "http://127.0.0.1:9/secret">\n]>\n'
    body = _TINY_BODY.replace(b"</HealthData>", b"&xxe;\n</HealthData>") % b"1"
    return _write(d, "xxe_http.xml", _PROLOG + dtd + body)


def parameter_entity(d: Path) -> Path:
    dtd = (b'<!DOCTYPE HealthData [\n<!ENTITY % p SYSTEM "file:///etc/passwd">\n%p;\n'
           b'<!ENTITY % q SYSTEM "http://127.0.0.1:9/evil.dtd">\n%q;\n]>\n')
    return _write(d, "parameter_entity.xml", _PROLOG + dtd + _TINY_BODY % b"1")


def external_dtd(d: Path) -> Path:
    dtd = b'<!DOCTYPE HealthData SYSTEM "http://127.0.0.1:9/healthdata.dtd">\n'
    return _write(d, "external_dtd.xml", _PROLOG + dtd + _body())


# ---------------------------------------------------------------------------------------
# iOS 16 DTD variants and other header shapes (all VALID: same data as the base)


def dtd_unclosed_vision(d: Path) -> Path:
    pro, _, body = _split(base_xml(12))
    return _write(d, "dtd_unclosed_vision.xml", pro + dtd_text(12, "vision").encode() + body)


def dtd_unclosed_attachment(d: Path) -> Path:
    pro, _, body = _split(base_xml(12))
    return _write(d, "dtd_unclosed_attachment.xml",
                  pro + dtd_text(12, "attachment").encode() + body)


def dtd_extra_gt(d: Path) -> Path:
    pro, _, body = _split(base_xml(12))
    return _write(d, "dtd_extra_gt.xml", pro + dtd_text(12, "extra_gt").encode() + body)


def doctype_missing(d: Path) -> Path:
    pro, _, body = _split(base_xml())
    return _write(d, "doctype_missing.xml", pro + body)


def doctype_one_line(d: Path) -> Path:
    pro, dtd, body = _split(base_xml())
    one = b" ".join(x.strip() for x in dtd.splitlines() if x.strip()) + b"\n"
    return _write(d, "doctype_one_line.xml", pro + one + body)


def comment_before_doctype(d: Path) -> Path:
    pro, dtd, body = _split(base_xml())
    return _write(d, "comment_before_doctype.xml",
                  pro + b"<!-- HealthKit Export Version: 14 -->\n" + dtd + body)


def utf8_bom(d: Path) -> Path:
    return _write(d, "utf8_bom.xml", b"\xef\xbb\xbf" + base_xml())


def control_chars(d: Path) -> Path:
    """``\\x0b`` inside a sourceName and a metadata value (seen in real iOS exports)."""
    x = base_xml()
    x = x.replace(b'sourceName="MyFitnessPal"', b'sourceName="My\x0bFitnessPal"', 1)
    x = x.replace(b'value="Turkey sandwich"', b'value="Turkey\x0bsandwich"', 1)
    return _write(d, "control_chars.xml", x)


def healthdata_empty(d: Path) -> Path:
    pro, dtd, _ = _split(base_xml())
    return _write(d, "healthdata_empty.xml", pro + dtd + b'<HealthData locale="en_US">\n</HealthData>\n')


_ATTR = re.compile(rb'([A-Za-z_][\w.-]*)="([^"]*)"')


def attr_order_shuffled(d: Path) -> Path:
    """Every element's attributes in reverse order plus an unknown attribute: parsers that
    rely on attribute order or a fixed attribute set (regex parsers) break; data unchanged."""
    out = []
    for line in base_xml().splitlines(keepends=True):
        st = line.lstrip()
        if st.startswith((b"<Record ", b"<Workout ", b"<Correlation ", b"<ActivitySummary ")):
            indent = line[: len(line) - len(st)]
            name_end = st.index(b" ")
            attrs = _ATTR.findall(st)
            close = b"/>" if st.rstrip().endswith(b"/>") else b">"
            body = b" ".join(b'%s="%s"' % kv for kv in reversed(attrs))
            line = (indent + st[:name_end] + b' futureAttribute="1" ' + body + close + b"\n")
        out.append(line)
    return _write(d, "attr_order_shuffled.xml", b"".join(out))


def unknown_elements(d: Path) -> Path:
    """Unknown elements at top level and inside a Record / Workout: must be skipped."""
    x = base_xml()
    x = x.replace(b"\n <Record ", b"\n <FutureThing kind=\"x\"><Nested a=\"1\"/></FutureThing>\n <Record ", 1)
    i = x.index(b"</Workout>")
    x = x[:i] + b" <FutureWorkoutThing value=\"9\"/>\n " + x[i:]
    i = x.index(b"<MetadataEntry key=\"HKMetadataKeyHeartRateMotionContext\"")
    x = x[:i] + b"<FutureChild/>\n  " + x[i:]
    return _write(d, "unknown_elements.xml", x)


#: Injected records (§5.3 items 1-5): (case, attribute text after ``<Record ``, policy).
#: ``skip``: must not be stored (count a warning); ``skip_or_keep``: may be stored raw
#: (then it appears in the type counts) but must never change an aggregate. All sit at
#: 03:00 local on the second day, when no other source writes steps, so a kept value
#: would be visible in ``steps_by_day``.
_STEP = 'type="HKQuantityTypeIdentifierStepCount" sourceName="BadApp" unit="count"'
_FOO = 'type="HKQuantityTypeIdentifierFooBar" sourceName="BadApp" unit="count"'
_WHEN = 'startDate="2024-01-02 03:00:%02d -0800" endDate="2024-01-02 03:01:00 -0800"'
BAD_RECORDS: list[tuple[str, str, str]] = [
    ("empty_value", f'{_STEP} {_WHEN % 1} value=""', "skip"),
    ("missing_value", f'{_STEP} {_WHEN % 2}', "skip"),
    ("nan", f'{_STEP} {_WHEN % 3} value="NaN"', "skip"),
    ("inf", f'{_STEP} {_WHEN % 4} value="inf"', "skip"),
    ("overflow", f'{_STEP} {_WHEN % 5} value="1e309"', "skip"),
    ("negative_steps", f'{_STEP} {_WHEN % 6} value="-500"', "skip"),
    ("decimal_comma", f'{_STEP} {_WHEN % 7} value="1,5"', "skip"),
    ("missing_unit", 'type="HKQuantityTypeIdentifierBodyMass" sourceName="BadApp" '
     f'{_WHEN % 8} value="70"', "skip"),
    ("unknown_unit", 'type="HKQuantityTypeIdentifierDistanceWalkingRunning" sourceName="BadApp"'
     f' unit="furlongs" {_WHEN % 9} value="3"', "skip_or_keep"),
    ("bad_month", f'{_STEP} startDate="2024-13-22 08:15:32 -0700" '
     'endDate="2024-13-22 08:16:32 -0700" value="5"', "skip"),
    # Lenient parsers may accept these two unambiguous spellings: an unaggregated type keeps
    # every aggregate identical whichever policy the importer picks.
    ("iso_t_z", f'{_FOO} startDate="2024-01-02T11:15:32Z" endDate="2024-01-02T11:16:32Z" '
     'value="5"', "skip_or_keep"),
    ("naive", f'{_STEP} startDate="2024-01-02 03:15:32" endDate="2024-01-02 03:16:32" '
     'value="5"', "skip"),
    ("empty_date", f'{_STEP} startDate="" endDate="" value="5"', "skip"),
    ("offset_colon", f'{_FOO} startDate="2024-01-02 03:20:32 -08:00" '
     'endDate="2024-01-02 03:21:32 -08:00" value="5"', "skip_or_keep"),
    ("end_before_start", f'{_STEP} startDate="2024-01-02 03:45:32 -0800" '
     'endDate="2024-01-02 03:35:32 -0800" value="5"', "skip"),
    ("year_1970", f'{_STEP} startDate="1970-01-01 00:00:00 +0000" '
     'endDate="1970-01-01 00:01:00 +0000" value="5"', "skip"),
    ("year_2100", f'{_STEP} startDate="2100-01-01 00:00:00 -0800" '
     'endDate="2100-01-01 00:01:00 -0800" value="5"', "skip"),
    ("hour_24", f'{_STEP} startDate="2024-01-02 24:00:00 -0800" '
     'endDate="2024-01-02 24:00:00 -0800" value="5"', "skip"),
    ("missing_start", f'{_STEP} endDate="2024-01-02 03:16:32 -0800" value="5"', "skip"),
    ("missing_type", f'sourceName="BadApp" unit="count" {_WHEN % 10} value="5"', "skip"),
    ("missing_source", f'type="HKQuantityTypeIdentifierStepCount" unit="count" {_WHEN % 11}'
     ' value="5"', "skip"),
    ("unknown_category", f'type="HKDataTypeSomething" sourceName="BadApp" {_WHEN % 12} '
     'value="x"', "skip_or_keep"),
]


def bad_records_count_bounds() -> tuple[dict[str, int], dict[str, int]]:
    """(fewest, most) acceptable records_by_type after importing :func:`bad_records`."""
    lo = dict(base_truth().records_by_type)
    hi = dict(lo)
    for _, attrs, policy in BAD_RECORDS:
        if policy == "skip_or_keep":
            typ = re.search(r'type="([^"]+)"', attrs).group(1)  # type: ignore[union-attr]
            hi[typ] = hi.get(typ, 0) + 1
    return lo, hi


def bad_records(d: Path) -> Path:
    """The base export plus one broken Record per :data:`BAD_RECORDS` case (§5.3 items 1-5).
    Must import: every aggregate (steps_by_day, metric_daily, date_range, ...) equals
    ``base_truth()``; record counts lie within :func:`bad_records_count_bounds`."""
    x = base_xml()
    lines = b"".join(b" <Record " + a.encode() + b"/>\n" for _, a, _p in BAD_RECORDS)
    i = x.index(b"\n <Record ") + 1
    return _write(d, "bad_records.xml", x[:i] + lines + x[i:])


# ---------------------------------------------------------------------------------------
# Broken XML (all REJECTED)


def _cut_at(x: bytes, marker: bytes, frac: float = 0.6) -> int:
    return x.index(marker, int(len(x) * frac))


def truncated_mid_attribute(d: Path) -> Path:
    x = base_xml()
    i = _cut_at(x, b'startDate="') + len(b'startDate="2024-01')
    return _write(d, "truncated_mid_attribute.xml", x[:i])


def truncated_mid_element(d: Path) -> Path:
    x = base_xml()
    i = _cut_at(x, b"\n <Record ") + len(b"\n <Rec")
    return _write(d, "truncated_mid_element.xml", x[:i])


def truncated_no_root_close(d: Path) -> Path:
    x = base_xml()
    return _write(d, "truncated_no_root_close.xml", x[: x.rindex(b"</HealthData>")])


def zero_byte(d: Path) -> Path:
    return _write(d, "zero_byte.xml", b"")


def prolog_dtd_only(d: Path) -> Path:
    pro, dtd, _ = _split(base_xml())
    return _write(d, "prolog_dtd_only.xml", pro + dtd)


def duplicate_attribute(d: Path) -> Path:
    x = base_xml()
    i = _cut_at(x, b'<Record type="', 0.3) + len(b"<Record ")
    x = x[:i] + b'type="HKQuantityTypeIdentifierFooBar" ' + x[i:]
    return _write(d, "duplicate_attribute.xml", x)


def attribute_with_space(d: Path) -> Path:
    x = base_xml()
    i = _cut_at(x, b'<Record type="', 0.3) + len(b"<Record ")
    x = x[:i] + b'Health Mate App Version="2.6.0" ' + x[i:]
    return _write(d, "attribute_with_space.xml", x)


def utf16(d: Path) -> Path:
    x = base_xml().decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    return _write(d, "utf16.xml", x.encode("utf-16"))  # with BOM


def _png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(
        ">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\x00" * 64


def png_renamed(d: Path) -> Path:
    return _write(d, "png_renamed.xml", _png())


def sparse_5gb(d: Path) -> Path:
    """A 5 GiB file of NUL bytes that uses no disk (sparse). Importers must cap size or fail
    on the first bytes; never read it whole."""
    p = Path(d) / "sparse_5gb.xml"
    with open(p, "wb") as f:
        f.truncate(5 * (1 << 30))
    return p


# ---------------------------------------------------------------------------------------
# Zip helpers


def _export_zip_bytes(name: str = "apple_health_export/export.xml",
                      zinfo_cls: type[zipfile.ZipInfo] = zipfile.ZipInfo,
                      extra: Callable[[zipfile.ZipFile], None] | None = None,
                      compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as zf:
        zi = zinfo_cls(name, date_time=(2024, 10, 22, 8, 15, 32))
        zi.compress_type = compress
        zf.writestr(zi, base_xml())
        if extra:
            extra(zf)
    return buf.getvalue()


def _patch_member(data: bytes, member: str, *, flag_or: int = 0, method: int | None = None,
                  crc_xor: int = 0) -> bytes:
    """Patch the local and central headers of ``member`` in raw zip bytes."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    info = zf.getinfo(member)
    b = bytearray(data)
    lo = info.header_offset
    assert b[lo:lo + 4] == b"PK\x03\x04"
    # local header: flags @6, method @8, crc @14
    fl = struct.unpack_from("<H", b, lo + 6)[0] | flag_or
    struct.pack_into("<H", b, lo + 6, fl)
    if method is not None:
        struct.pack_into("<H", b, lo + 8, method)
    crc = struct.unpack_from("<I", b, lo + 14)[0] ^ crc_xor
    struct.pack_into("<I", b, lo + 14, crc)
    # central directory entries: flags @8, method @10, crc @16, offset @42
    pos = 0
    while True:
        pos = b.find(b"PK\x01\x02", pos)
        if pos < 0:
            break
        if struct.unpack_from("<I", b, pos + 42)[0] == lo:
            fl = struct.unpack_from("<H", b, pos + 8)[0] | flag_or
            struct.pack_into("<H", b, pos + 8, fl)
            if method is not None:
                struct.pack_into("<H", b, pos + 10, method)
            crc = struct.unpack_from("<I", b, pos + 16)[0] ^ crc_xor
            struct.pack_into("<I", b, pos + 16, crc)
        pos += 4
    return bytes(b)


class _NoUtf8FlagInfo(zipfile.ZipInfo):
    """Writes the file name bytes as cp437 without the UTF-8 flag (0x800)."""

    def _encodeFilenameFlags(self):  # noqa: N802 - overriding a private zipfile hook
        return self.filename.encode("cp437"), self.flag_bits & ~0x800


_MACOSX = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 64

# ---------------------------------------------------------------------------------------
# Valid zip layouts


def zip_nested(d: Path) -> Path:
    return _write(d, "export.zip", _export_zip_bytes())


def zip_flat(d: Path) -> Path:
    return _write(d, "flat.zip", _export_zip_bytes("export.xml"))


def zip_double_nested(d: Path) -> Path:
    return _write(d, "double_nested.zip",
                  _export_zip_bytes("export/apple_health_export/export.xml"))


def zip_macosx_junk(d: Path) -> Path:
    def junk(zf: zipfile.ZipFile) -> None:
        zf.writestr("__MACOSX/apple_health_export/._export.xml", _MACOSX)
        zf.writestr("apple_health_export/export_cda.xml",
                    '<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>\n')
    return _write(d, "macosx_junk.zip", _export_zip_bytes(extra=junk))


def zip_exportar(d: Path) -> Path:
    return _write(d, "exportar.zip", _export_zip_bytes("apple_health_export/exportar.xml"))


def zip_cn_utf8_flag(d: Path) -> Path:
    return _write(d, "export_cn.zip", _export_zip_bytes("apple_health_export/导出.xml"))


def zip_cn_no_utf8_flag(d: Path) -> Path:
    mojibake = "apple_health_export/导出.xml".encode("utf-8").decode("cp437")
    return _write(d, "export_cn_noflag.zip", _export_zip_bytes(mojibake, _NoUtf8FlagInfo))


def zip_capitalized_name(d: Path) -> Path:
    return _write(d, "export_capital.zip", _export_zip_bytes("apple_health_export/Export.xml"))


def zip_localized_folder(d: Path) -> Path:
    return _write(d, "exportacion.zip",
                  _export_zip_bytes("apple_health_exportación/exportar.xml"))


def zip_broken_cda(d: Path) -> Path:
    """export_cda.xml with two roots ("junk after document element", as real exports had)
    next to a good export.xml: the CDA file must be ignored, not parsed."""
    def cda(zf: zipfile.ZipFile) -> None:
        zf.writestr("apple_health_export/export_cda.xml",
                    '<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument '
                    'xmlns="urn:hl7-org:v3"><component/></ClinicalDocument>\n'
                    "<component><observation/></component>\n")
    return _write(d, "broken_cda.zip", _export_zip_bytes(extra=cda))


def zip_symlink_member(d: Path) -> Path:
    def link(zf: zipfile.ZipFile) -> None:
        zi = zipfile.ZipInfo("apple_health_export/passwd_link", (2024, 10, 22, 8, 15, 32))
        zi.create_system = 3
        zi.external_attr = (0o120777 << 16)
        zf.writestr(zi, "/etc/passwd")
    return _write(d, "symlink_member.zip", _export_zip_bytes(extra=link))


# ---------------------------------------------------------------------------------------
# Rejected zips


_CRC_POLY = 0xEDB88320


def _gf2_mul(a: int, b: int) -> int:
    """a*b modulo the CRC-32 polynomial (reflected bit order, x^0 is the top bit)."""
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if a & (m - 1) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1


_X_POW2 = [1 << 30]  # x^(2^k) mod P for k = 0..31
for _k in range(31):
    _X_POW2.append(_gf2_mul(_X_POW2[-1], _X_POW2[-1]))


def _x_pow_bytes(nbytes: int) -> int:
    """x^(8*nbytes) mod P: the operator that shifts a CRC past nbytes of data."""
    p, k = 1 << 31, 3
    while nbytes:
        if nbytes & 1:
            p = _gf2_mul(_X_POW2[k & 31], p)
        nbytes >>= 1
        k += 1
    return p


def _crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    return _gf2_mul(_x_pow_bytes(len2), crc1) ^ crc2


def _crc32_repeat(block: bytes, times: int, crc: int = 0) -> int:
    """CRC-32 of ``prefix + block * times`` given ``crc`` = CRC-32 of the prefix."""
    unit, ulen = zlib.crc32(block), len(block)
    while times:
        if times & 1:
            crc = _crc32_combine(crc, unit, ulen)
        unit = _crc32_combine(unit, unit, ulen)
        ulen *= 2
        times >>= 1
    return crc


def _write_bomb(p: Path, uncompressed: int) -> Path:
    """One DEFLATE member ``apple_health_export/export.xml`` inflating to ``uncompressed``
    bytes: a valid XML head followed by spaces (well-formed, so only a byte/ratio cap stops
    it). ZIP64 records are written when the size needs them (>= 4 GiB).

    Built in well under a second: one 1 MiB block of spaces is deflated once after a full
    flush (which resets the compressor, so every later identical block deflates identically)
    and the compressed block is written repeatedly; the CRC of the repeated block is
    combined arithmetically (GF(2) polynomial algebra, as zlib's crc32_combine) instead of
    being computed over gigabytes.
    """
    head = _PROLOG + b'<HealthData locale="en_US">\n'
    tail = b"\n</HealthData>\n"
    chunk = b" " * (1 << 20)
    nchunks = (uncompressed - len(head) - len(tail)) // len(chunk)
    pad = uncompressed - len(head) - len(tail) - nchunks * len(chunk)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again, "zlib did not reset on Z_FULL_FLUSH"
    last = c.compress(b" " * pad + tail) + c.flush(zlib.Z_FINISH)
    crc = _crc32_repeat(chunk, nchunks, zlib.crc32(head))
    crc = zlib.crc32(b" " * pad + tail, crc)
    name = b"apple_health_export/export.xml"
    csize = len(first) + len(block) * nchunks + len(last)
    z64 = uncompressed >= 0xFFFFFFFF or csize >= 0xFFFFFFFF
    ver = 45 if z64 else 20
    u32, c32 = (0xFFFFFFFF, 0xFFFFFFFF) if z64 else (uncompressed, csize)
    extra = struct.pack("<HHQQ", 1, 16, uncompressed, csize) if z64 else b""
    dostime, dosdate = (8 << 11) | (15 << 5) | 16, ((2024 - 1980) << 9) | (10 << 5) | 22
    with open(p, "wb") as f:
        f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, ver, 0, 8, dostime, dosdate, crc, c32,
                            u32, len(name), len(extra)) + name + extra)
        f.write(first)
        batch = block * 256  # few syscalls, ~260 KB per write
        full, rest = divmod(nchunks, 256)
        for _ in range(full):
            f.write(batch)
        f.write(block * rest)
        f.write(last)
        cd_off = f.tell()
        cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, ver, ver, 0, 8, dostime, dosdate,
                         crc, c32, u32, len(name), len(extra), 0, 0, 0, 0o100644 << 16,
                         0) + name + extra
        f.write(cd)
        if z64:
            eocd64_off = f.tell()
            f.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, len(cd),
                                cd_off))
            f.write(struct.pack("<IIQI", 0x07064B50, 0, eocd64_off, 1))
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), cd_off, 0))
    return p


def zip_bomb(d: Path, uncompressed: int = (1 << 31) + (1 << 20)) -> Path:
    """A ~2 MB zip whose export.xml inflates to > 2 GiB (see :func:`_write_bomb`)."""
    return _write_bomb(Path(d) / "zip_bomb.zip", uncompressed)


def zip_bomb_zip64(d: Path, uncompressed: int = 5 << 30) -> Path:
    """A ~5 MB ZIP64 zip whose export.xml inflates to 5 GiB (ratio ~1000:1)."""
    return _write_bomb(Path(d) / "zip_bomb_zip64.zip", uncompressed)


def zip_10k_entries(d: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for k in range(10_000):
            zf.writestr(f"apple_health_export/workout-routes/junk_{k:05d}.gpx", b"x")
    return _write(d, "zip_10k_entries.zip", buf.getvalue())


def zip_nested_zip(d: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("export.zip", _export_zip_bytes())
    return _write(d, "nested_zip.zip", buf.getvalue())


def zip_slip(d: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("../../apple_health_export/export.xml", base_xml())
        zf.writestr("../../../tmp/escape.txt", b"escaped")
        zf.writestr("/etc/cron.d/x", b"* * * * * root true\n")
        zf.writestr("..\\..\\x.txt", b"windows traversal")
    return _write(d, "zip_slip.zip", buf.getvalue())


_MEMBER = "apple_health_export/export.xml"


def zip_encrypted_flag(d: Path) -> Path:
    return _write(d, "encrypted.zip", _patch_member(_export_zip_bytes(), _MEMBER, flag_or=0x1))


def zip_unsupported_method(d: Path) -> Path:
    """Compression method 93 (zstd) declared; the data is really deflate."""
    return _write(d, "unsupported_method.zip",
                  _patch_member(_export_zip_bytes(), _MEMBER, method=93))


def zip_bad_crc(d: Path) -> Path:
    return _write(d, "bad_crc.zip", _patch_member(_export_zip_bytes(), _MEMBER, crc_xor=0x1))


def html_renamed_zip(d: Path) -> Path:
    return _write(d, "export_html.zip",
                  b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
                  b"<body><p>Please sign in to download export.zip</p></body></html>\n")


def one_byte_zip(d: Path) -> Path:
    return _write(d, "one_byte.zip", b"P")


def empty_zip(d: Path) -> Path:
    buf = io.BytesIO()
    zipfile.ZipFile(buf, "w").close()
    return _write(d, "empty.zip", buf.getvalue())


def png_renamed_zip(d: Path) -> Path:
    return _write(d, "png_renamed.zip", _png())


# ---------------------------------------------------------------------------------------
# Registry

HOSTILE_CASES: dict[str, Callable[[Path], Path]] = {
    # security
    "billion_laughs": billion_laughs,
    "quadratic_blowup": quadratic_blowup,
    "xxe_file": xxe_file,
    "xxe_http": xxe_http,
    "parameter_entity": parameter_entity,
    "external_dtd": external_dtd,
    "zip_bomb": zip_bomb,
    "zip_bomb_zip64": zip_bomb_zip64,
    "zip_10k_entries": zip_10k_entries,
    "zip_nested_zip": zip_nested_zip,
    "zip_slip": zip_slip,
    "zip_encrypted_flag": zip_encrypted_flag,
    "zip_unsupported_method": zip_unsupported_method,
    "zip_bad_crc": zip_bad_crc,
    "html_renamed_zip": html_renamed_zip,
    "one_byte_zip": one_byte_zip,
    "empty_zip": empty_zip,
    "png_renamed_zip": png_renamed_zip,
    "png_renamed_xml": png_renamed,
    "sparse_5gb": sparse_5gb,
    # broken XML
    "truncated_mid_attribute": truncated_mid_attribute,
    "truncated_mid_element": truncated_mid_element,
    "truncated_no_root_close": truncated_no_root_close,
    "zero_byte": zero_byte,
    "prolog_dtd_only": prolog_dtd_only,
    "duplicate_attribute": duplicate_attribute,
    "attribute_with_space": attribute_with_space,
    "utf16": utf16,
    # valid oddities
    "dtd_unclosed_vision": dtd_unclosed_vision,
    "dtd_unclosed_attachment": dtd_unclosed_attachment,
    "dtd_extra_gt": dtd_extra_gt,
    "doctype_missing": doctype_missing,
    "doctype_one_line": doctype_one_line,
    "comment_before_doctype": comment_before_doctype,
    "utf8_bom": utf8_bom,
    "control_chars": control_chars,
    "healthdata_empty": healthdata_empty,
    "attr_order_shuffled": attr_order_shuffled,
    "unknown_elements": unknown_elements,
    "bad_records": bad_records,
    "zip_nested": zip_nested,
    "zip_flat": zip_flat,
    "zip_double_nested": zip_double_nested,
    "zip_macosx_junk": zip_macosx_junk,
    "zip_exportar": zip_exportar,
    "zip_cn_utf8_flag": zip_cn_utf8_flag,
    "zip_cn_no_utf8_flag": zip_cn_no_utf8_flag,
    "zip_symlink_member": zip_symlink_member,
    "zip_capitalized_name": zip_capitalized_name,
    "zip_localized_folder": zip_localized_folder,
    "zip_broken_cda": zip_broken_cda,
}

VALID_VARIANTS: frozenset[str] = frozenset({
    "dtd_unclosed_vision", "dtd_unclosed_attachment", "dtd_extra_gt", "doctype_missing",
    "doctype_one_line", "comment_before_doctype", "utf8_bom", "control_chars",
    "healthdata_empty", "attr_order_shuffled", "unknown_elements",
    "zip_nested", "zip_flat", "zip_double_nested", "zip_macosx_junk",
    "zip_exportar", "zip_cn_utf8_flag", "zip_cn_no_utf8_flag", "zip_symlink_member",
    "zip_capitalized_name", "zip_localized_folder", "zip_broken_cda",
})

#: Must import, with per-record warnings; counts within bad_records_count_bounds().
PARTIAL: frozenset[str] = frozenset({"bad_records"})

REJECTED: frozenset[str] = frozenset(set(HOSTILE_CASES) - VALID_VARIANTS - PARTIAL)

#: Cases whose data comes from the v12 base (same counts as ``base_truth(12)``).
V12_BASED: frozenset[str] = frozenset({"dtd_unclosed_vision", "dtd_unclosed_attachment",
                                       "dtd_extra_gt"})

EXPECTED: dict[str, str] = {
    "billion_laughs": "rejected in < 1 s (entity declarations are refused)",
    "quadratic_blowup": "rejected in < 1 s, no 10 GB expansion",
    "xxe_file": "rejected; /etc/passwd never read",
    "xxe_http": "rejected; no network access",
    "parameter_entity": "rejected; no file or network access",
    "external_dtd": "rejected (DOCTYPE with SYSTEM/PUBLIC); no network access",
    "zip_bomb": "rejected by the uncompressed-size or ratio cap while streaming; no extraction",
    "zip_bomb_zip64": "rejected by the size/ratio cap (ZIP64 member of 5 GiB); no extraction",
    "zip_10k_entries": "rejected (entry-count cap or no HealthData member); fast",
    "zip_nested_zip": "rejected: no HealthData XML at depth <= 2 (inner zips not recursed)",
    "zip_slip": "rejected as hostile (path traversal / absolute names); nothing written",
    "zip_encrypted_flag": "rejected: encrypted member",
    "zip_unsupported_method": "rejected: unsupported compression method (93)",
    "zip_bad_crc": "rejected: CRC mismatch on the export member; nothing committed",
    "html_renamed_zip": "rejected: not a zip",
    "one_byte_zip": "rejected: not a zip",
    "empty_zip": "rejected: no export inside",
    "png_renamed_zip": "rejected: not a zip",
    "png_renamed_xml": "rejected: not XML",
    "sparse_5gb": "rejected fast (size cap or not XML at byte 0); never read whole",
    "truncated_mid_attribute": "rejected; atomic (no partial import, no half record)",
    "truncated_mid_element": "rejected; atomic",
    "truncated_no_root_close": "rejected; atomic",
    "zero_byte": "rejected: empty file",
    "prolog_dtd_only": "rejected: no HealthData root",
    "duplicate_attribute": "rejected: not well-formed",
    "attribute_with_space": "rejected: not well-formed",
    "utf16": "rejected: exports are UTF-8",
    "dtd_unclosed_vision": "imported; same records as base_truth(12)",
    "dtd_unclosed_attachment": "imported; same records as base_truth(12)",
    "dtd_extra_gt": "imported; same records as base_truth(12)",
    "doctype_missing": "imported; same records as base_truth()",
    "doctype_one_line": "imported; same records as base_truth()",
    "comment_before_doctype": "imported; same records as base_truth()",
    "utf8_bom": "imported; same records as base_truth()",
    "control_chars": "imported; \\x0b stripped/sanitized; same record counts as base_truth()",
    "healthdata_empty": "imported; zero records",
    "attr_order_shuffled": "imported; same records as base_truth() (order/unknown attrs ignored)",
    "unknown_elements": "imported; same records as base_truth(); unknown elements skipped",
    "bad_records": "imported with warnings; every aggregate and date_range equal "
                   "base_truth(); 'skip' lines never stored, 'skip_or_keep' lines may be "
                   "stored raw (counts within bad_records_count_bounds())",
    "zip_nested": "imported; same records as base_truth()",
    "zip_flat": "imported; export.xml at the zip root is found",
    "zip_double_nested": "imported; export/apple_health_export/export.xml is found",
    "zip_macosx_junk": "imported; __MACOSX/._export.xml and export_cda.xml ignored",
    "zip_exportar": "imported; localized name found by content sniffing",
    "zip_cn_utf8_flag": "imported; 导出.xml (UTF-8 flag set) found",
    "zip_cn_no_utf8_flag": "imported; cp437-mojibake name found by content sniffing",
    "zip_symlink_member": "imported; the symlink member is ignored, never followed",
    "zip_capitalized_name": "imported; Export.xml found",
    "zip_localized_folder": "imported; apple_health_exportación/exportar.xml found by sniffing",
    "zip_broken_cda": "imported; the malformed export_cda.xml is ignored",
}


def build_all(d: Path, skip: frozenset[str] = frozenset({"zip_bomb", "zip_bomb_zip64",
                                                      "sparse_5gb"})) -> dict[str, Path]:
    """Build every case (by default the two multi-GB ones are skipped) into ``d``."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    return {name: fn(d) for name, fn in HOSTILE_CASES.items() if name not in skip}
