"""Text encoding of CSV and JSON files: declared, BOM, UTF-16 without BOM, UTF-8, cp1252, or a guess.

The order and its reasons are in docs/SCHEMA_DRIFT.md ("Reading files").
"""

from __future__ import annotations

import codecs
from pathlib import Path

from eventpulse.errors import ReadError
from eventpulse.parse.formats import TEXT_ENCODING_EXAMPLES, canonical_text_encoding

SAMPLE_BYTES = 1 << 20
_MAX_CHAOS = 0.2  # charset_normalizer "mess" ratio above which a detection is not trusted
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def detect_encoding(path: Path, label: str | None = None, declared: str | None = None) -> str:
    """The text encoding of ``path``.

    In order: the encoding the user declared; a BOM; UTF-16 without a BOM (every other byte NUL);
    UTF-8 when the sample is valid; Windows-1252 when it decodes to printable text (what Excel and
    Windows write in Western locales: a superset of Latin-1's printable characters); else a confident
    charset-normalizer guess; else a ReadError asking for UTF-8.
    """
    name = label or path.name
    if declared:
        canonical = canonical_text_encoding(declared)
        if canonical is None:  # intake refuses these; an ingestion registered before it did is terminal
            raise ReadError(
                f"encoding {declared[:40]!r} declared for {name!r} is not a known text encoding",
                hint=f"upload the file again declaring a text encoding such as {TEXT_ENCODING_EXAMPLES}",
            )
        return canonical
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
        at_end = fh.read(1) == b""
    return detect_sample_encoding(sample, name, at_end=at_end)


def detect_sample_encoding(sample: bytes, name: str, *, at_end: bool) -> str:
    """The text encoding of a file whose first bytes are ``sample`` (``at_end``: the whole file)."""
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return utf16
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=at_end)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if _is_printable_cp1252(sample):
        return "cp1252"
    import charset_normalizer  # only needed for the rare file that is neither

    best = charset_normalizer.from_bytes(sample).best()
    if best is None or best.chaos > _MAX_CHAOS:
        suspected = best.encoding if best is not None else "unknown"
        raise ReadError(
            f"file {name!r} is not UTF-8 and its encoding could not be detected with confidence "
            f"(suspected: {suspected})",
            hint="re-save the file as UTF-8, or declare its encoding (?encoding=...)",
            details={"suspected_encoding": suspected},
        )
    return str(best.encoding)


def _utf16_without_bom(sample: bytes) -> str | None:
    """utf-16-le/-be when NULs fill one byte position of each pair and not the other (ASCII text)."""
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nuls, odd_nuls = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nuls > 0.3 and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls > 0.3 and odd_nuls < 0.05:
        return "utf-16-be"
    return None


def _is_printable_cp1252(sample: bytes) -> bool:
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D are undefined in cp1252
        return False
    return not any(ch < " " and ch not in "\t\r\n" for ch in text)


def sample_text(path: Path, encoding: str) -> str:
    with path.open("rb") as fh:
        raw = fh.read(SAMPLE_BYTES)
    return decode_sample(raw, encoding)


def decode_sample(raw: bytes, encoding: str) -> str:
    """The text of a file's first bytes: a UTF-8 BOM dropped, a character cut at the end left out."""
    return codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)(
        errors="replace"
    ).decode(raw, final=False)


def arrow_encoding(encoding: str | None) -> str:
    # "utf8" is Arrow's native path (no transcoding; a UTF-8 BOM is skipped); others go through codecs.
    return "utf8" if encoding in (None, "utf-8", "utf_8") else encoding
