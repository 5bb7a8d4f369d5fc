"""Deterministic demo files for the ``parcels`` and ``edge_telemetry`` datasets.

Row ``i`` of a dataset is a pure function of ``(dataset, seed, i)``: the random stream is re-seeded at
every block of ``_BLOCK`` rows from a string key, so output is stable across runs, platforms and Python
versions (``random.Random`` with a ``str`` seed hashes it with sha512), and a file generated with
``start=s`` holds exactly rows ``s..`` of the longer file. Every case draws the same random numbers, so
a case differs from ``baseline`` only where the case says it does.

Cases:
- ``baseline``: valid rows.
- ``add_column``: one extra trailing column (parcels ``flood_zone``, edge_telemetry ``uptime_s``).
- ``type_change``: a real type change in both formats. parcels ``sale_price`` becomes currency text such
  as ``"$221,746.62"`` (XLSX: text cells), edge_telemetry ``value`` becomes a reading with its unit
  (``"23.5C"``). Text cells that merely hold digits are not used: a reader that re-infers types, as CSV
  readers must, would see no change.
- ``duplicate_pk``: the last row repeats the first row's primary key (edge_telemetry: event_id and
  device_id); otherwise valid.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from random import Random
from typing import Any, Literal, NamedTuple, get_args

Dataset = Literal["parcels", "edge_telemetry"]
Case = Literal["baseline", "add_column", "type_change", "duplicate_pk"]
KEY_WIDTH = {"parcels": 1, "edge_telemetry": 2}
"""Leading columns making the primary key (edge_telemetry: event_id, device_id), repeated by duplicate_pk."""
FileFormat = Literal["csv", "xlsx"]

DATASETS: tuple[Dataset, ...] = get_args(Dataset)
CASES: tuple[Case, ...] = get_args(Case)
FORMATS: tuple[FileFormat, ...] = get_args(FileFormat)

MAX_ROWS = 1_000_000
"""Upper bound on rows per call; also keeps XLSX under Excel's 1,048,576-row sheet limit."""

_BLOCK = 1024
_PICK = 1024
_EVENT_NAMESPACE = uuid.UUID("5b0e3c56-8f0e-4c1a-9a55-6e7a1c0d2f10")

PARCEL_COLUMNS: tuple[str, ...] = (
    "parcel_id", "county", "situs_address", "city", "state", "zip", "lat", "lon", "sale_date",
    "recording_date", "sale_price", "deed_type", "doc_number", "book", "page", "grantor", "grantee",
    "year_built", "bedrooms", "bathrooms", "building_sqft", "lot_sqft", "assessed_value", "land_use",
    "updated_at",
)  # fmt: skip
EDGE_COLUMNS: tuple[str, ...] = (
    "event_id", "device_id", "event_type", "sensor", "value", "units", "ts", "lat", "lon", "battery_v",
    "rssi_dbm", "firmware_version", "status", "message",
)  # fmt: skip
EXTRA_COLUMN: dict[Dataset, str] = {"parcels": "flood_zone", "edge_telemetry": "uptime_s"}
TYPE_CHANGE_COLUMN: dict[Dataset, str] = {"parcels": "sale_price", "edge_telemetry": "value"}
PRIMARY_KEY: dict[Dataset, str] = {"parcels": "parcel_id", "edge_telemetry": "event_id"}


def _csv_field(value: object) -> str:
    """Render one value as a CSV field: ISO dates, shortest float repr, RFC 4180 quoting."""
    if value is None:
        return ""
    if isinstance(value, date):  # datetime too: ISO with a "T", no zone (UTC by convention)
        return value.isoformat()
    text = value if isinstance(value, str) else repr(value)
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _table(values: tuple[Any, ...], share: float = 1.0) -> tuple[Any, ...]:
    """A 1024-entry choice table: ``values`` spread evenly, ``None`` for about ``1 - share`` of it.

    1024 entries let one 10-bit slice of a random word pick a value.
    """
    pool = values + (None,) * round(len(values) * (1 - share) / share)
    return tuple(pool[k * len(pool) // _PICK] for k in range(_PICK))


class _Tables(NamedTuple):
    """Choices for categorical parcel columns; one draw per column picks from a table."""

    counties: tuple[Any, ...]
    places: tuple[Any, ...]  # (city, state, zip)
    addresses: tuple[Any, ...]
    deeds: tuple[Any, ...]
    codes: tuple[Any, ...]  # book and page
    names: tuple[Any, ...]
    years: tuple[Any, ...]
    bedrooms: tuple[Any, ...]
    baths: tuple[Any, ...]
    sqft: tuple[Any, ...]
    lots: tuple[Any, ...]
    land_uses: tuple[Any, ...]
    flood_zones: tuple[Any, ...]
    dates: tuple[Any, ...]
    stamps: tuple[Any, ...]  # 48 hourly stamps per date

    def as_text(self) -> _Tables:
        """The same tables pre-rendered as CSV fields: rendering per row would dominate the run time."""
        render = [
            tuple(tuple(map(_csv_field, v)) if isinstance(v, tuple) else _csv_field(v) for v in table)
            for table in self
        ]
        return _Tables(*render)


_DATES = tuple(date(2024, 1, 1) + timedelta(days=d) for d in range(366 + 42))
# The New Jersey and Massachusetts zips start with 0, to exercise typing.
_TYPED = _Tables(
    counties=_table(("Springfield", "Shelby", "Ogdenville", "Cypress")),
    places=_table((
        ("Springfield", "CO", "81073"), ("Springfield", "CO", "81074"), ("Shelbyville", "CO", "81075"),
        ("Ogdenville", "CO", "81076"), ("Capital City", "CO", "80014"), ("North Haverbrook", "NJ", "07316"),
        ("Brockway", "MA", "01060"), ("Cypress Creek", "NJ", "08820"),
    )),
    addresses=tuple(
        f"{n} {street}" for n in range(1, 2000)
        for street in ("Main St", "Oak Ave", "Evergreen Terrace", "Elm St, Unit 2", "Avenue Émile Zola")
    ) + (None,) * 400,
    deeds=_table(("Warranty", "Quitclaim", "Grant"), 0.65),
    codes=_table(tuple(str(n) for n in range(1, 1000)), 0.6),
    names=_table((
        "Johnson", "Williams", "Smith", "Brown", "Miller", "Jones", "García", "O'Neil",
        "Smith, John & Mary", 'Acme "Holdings" LLC', "Nguyễn", "Zoë Müller",
    ), 0.75),
    years=_table((1955, 1972, 1985, 1992, 2001, 2010, 2018), 0.3),
    bedrooms=_table((2, 3, 3, 4, 5), 0.3),
    baths=_table((1.0, 1.5, 2.0, 2.5, 3.0, 3.5), 0.8),
    sqft=_table((1200, 1500, 1800, 2200, 2800, 3400), 0.35),
    lots=_table((4000, 6000, 8000, 12000, 43560), 0.4),
    land_uses=_table(("Agricultural", "Commercial", "Residential", "Residential"), 0.75),
    flood_zones=_table(("X", "X", "X", "AE", "A", "VE"), 0.85),
    dates=_DATES,
    stamps=tuple(datetime(d.year, d.month, d.day, h % 24) + timedelta(days=h // 24)
                 for d in _DATES for h in range(48)),
)  # fmt: skip
_TEXT = _TYPED.as_text()
_N_ADDRESSES = len(_TYPED.addresses)

# device_id, firmware, base lat, base lon
_DEVICES = (
    ("rpi-01", "edge-agent/0.3.5", 39.131, -104.105),
    ("rpi-02", "edge-agent/0.2.0", 39.099, -104.202),
    ("rpi-03", "edge-agent/0.3.5", 39.132, -104.175),
)
# sensor, units, low, high
_SENSORS = (
    ("temp_c", "C", 5.0, 45.0), ("humidity_pct", "%", 10.0, 80.0), ("oil_pressure_psi", "psi", 3.0, 90.0),
    ("vibration_g", "g", 0.01, 1.5), ("oil_level_pct", "%", 5.0, 98.0),
    ("water_pressure_psi", "psi", 55.0, 98.0),
)  # fmt: skip
_MESSAGES = ("", "", "", "", "", "", "", "", 'watchdog reset, reason="brownout"', "température élevée")
_TS0 = datetime(2025, 1, 1)


def _ensure_rows(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` if it is an int in ``[minimum, MAX_ROWS]``; else raise ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not minimum <= value <= MAX_ROWS:
        raise ValueError(f"{name} must be between {minimum} and {MAX_ROWS:,}, got {value:,}")
    return value


def _ensure_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(allowed)}")


def columns_for(dataset: Dataset, case: Case) -> tuple[str, ...]:
    """The header of ``dataset`` in ``case``."""
    base = PARCEL_COLUMNS if dataset == "parcels" else EDGE_COLUMNS
    return base + (EXTRA_COLUMN[dataset],) if case == "add_column" else base


def _parcel_row(rng: Random, i: int, case: Case, text: bool) -> list[Any]:
    # Hot path (1M rows in seconds): categorical columns take 10-bit slices of one random word
    # (tables of 1024), numbers use integer arithmetic instead of round() (n / 100 and n / 1e8 are
    # the correctly rounded floats), and CSV fields come pre-rendered from _TEXT.
    r = rng.random
    t = _TEXT if text else _TYPED
    bits = rng.getrandbits(140)
    days = rng.getrandbits(32)
    sale_day, recorded_day = days % 366, days % 366 + 1 + (days >> 9) % 40
    cents = 15_000_000 + int(r() * 75_000_000)
    u = r()
    assessed: Any = int(cents * (0.8 + u / 0.7 * 0.4)) if u < 0.7 else None
    lat: Any = int(r() * 50_000_000)
    lon: Any = int(r() * 50_000_000)
    u = r()
    doc = f"DOC{100_000 + int(u / 0.75 * 900_000)}" if u < 0.75 else None
    price: Any
    if text:
        price = f"{cents // 100}.{cents % 100:02d}"
        assessed = "" if assessed is None else f"{assessed // 100}.{assessed % 100:02d}"
        lat, lon, doc = f"39.{lat:08d}", f"-104.{lon:08d}", doc or ""
    else:
        price = cents / 100
        assessed = None if assessed is None else assessed / 100
        lat, lon = (3_900_000_000 + lat) / 1e8, -(10_400_000_000 + lon) / 1e8
    if case == "type_change":  # currency text: not a number to any reader, in CSV or XLSX
        price = f'"${cents / 100:,.2f}"' if text else f"${cents / 100:,.2f}"
    city, state, zip_code = t.places[bits & 1023]
    row = [
        f"P{100_000 + i}", t.counties[bits >> 10 & 1023], t.addresses[int(r() * _N_ADDRESSES)],
        city, state, zip_code, lat, lon, t.dates[sale_day], t.dates[recorded_day], price,
        t.deeds[bits >> 20 & 1023], doc, t.codes[bits >> 30 & 1023], t.codes[bits >> 40 & 1023],
        t.names[bits >> 50 & 1023], t.names[bits >> 60 & 1023], t.years[bits >> 70 & 1023],
        t.bedrooms[bits >> 80 & 1023], t.baths[bits >> 90 & 1023], t.sqft[bits >> 100 & 1023],
        t.lots[bits >> 110 & 1023], assessed, t.land_uses[bits >> 120 & 1023],
        t.stamps[recorded_day * 48 + 1 + (days >> 15) % 47],
    ]  # fmt: skip
    if case == "add_column":
        row.append(t.flood_zones[bits >> 130 & 1023])
    return row


def _edge_row(rng: Random, i: int, case: Case, text: bool, seed: int) -> list[Any]:
    r = rng.random
    device, firmware, lat0, lon0 = _DEVICES[i % len(_DEVICES)]
    heartbeat = r() < 0.22
    sensor, units, low, high = _SENSORS[int(r() * len(_SENSORS))]
    reading = round(low + r() * (high - low), 3)
    value: Any = None if heartbeat else reading
    if case == "type_change" and not heartbeat:
        value = f"{reading:.1f}{units}"
    ts = _TS0 + timedelta(seconds=30 * i + int(r() * 30))
    uptime = 60 * i + int(r() * 60)  # drawn in every case: keeps the streams aligned
    row = [
        str(uuid.uuid5(_EVENT_NAMESPACE, f"{seed}:{i}")), device, "heartbeat" if heartbeat else "reading",
        None if heartbeat else sensor, value, None if heartbeat else units,
        ts,
        round(lat0 + r() * 0.1 - 0.05, 8), round(lon0 + r() * 0.1 - 0.05, 8),
        round(3.6 + r() * 0.6, 3), -111 + int(r() * 42), firmware,
        ("ok" if r() < 0.7 else "degraded") if heartbeat else None,
        _MESSAGES[int(r() * len(_MESSAGES))] or None,
    ]  # fmt: skip
    if case == "add_column":
        row.append(uptime)
    return [_csv_field(v) for v in row] if text else row


def _iter_values(
    dataset: Dataset, case: Case, rows: int, seed: int, start: int, *, text: bool = False
) -> Iterator[list[Any]]:
    """Yield row value lists; row ``i`` depends only on ``(dataset, seed, i)`` and the case.

    With ``text``, dates and timestamps come as ISO strings (the CSV form) instead of date/datetime.
    """
    _ensure_choice("dataset", dataset, DATASETS)
    _ensure_choice("case", case, CASES)
    _ensure_rows("rows", rows, minimum=2 if case == "duplicate_pk" else 1)
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"start must be a non-negative integer, got {start!r}")
    make: Callable[[Random, int], list[Any]]
    if dataset == "parcels":
        make = partial(_parcel_row, case=case, text=text)
    else:
        make = partial(_edge_row, case=case, text=text, seed=seed)
    rng = Random()
    first_key: list[Any] = []
    width = KEY_WIDTH[dataset]
    end = start + rows
    block = start - start % _BLOCK
    while block < end:
        rng.seed(f"eventpulse-demo:{dataset}:{seed}:{block}")
        for i in range(block, min(block + _BLOCK, end)):
            values = make(rng, i)  # rows before `start` in this block are drawn and dropped
            if i < start:
                continue
            if i == start:
                first_key = values[:width]
            elif case == "duplicate_pk" and i == end - 1:
                values[:width] = first_key
            yield values
        block += _BLOCK


def generate_rows(
    dataset: Dataset, case: Case, rows: int, *, seed: int = 7, start: int = 0
) -> Iterator[dict[str, Any]]:
    """Stream ``rows`` demo rows (rows ``start..start+rows-1``) as dicts with typed Python values.

    Dates are ``date``, timestamps naive ``datetime`` (UTC), empty cells ``None``.
    """
    names = columns_for(dataset, case)
    for values in _iter_values(dataset, case, rows, seed, start):
        yield dict(zip(names, values, strict=True))


def _write_csv(path: Path, header: tuple[str, ...], rows: Iterator[list[Any]]) -> None:
    # Rows arrive as pre-rendered CSV fields (text=True): joining them is 2x faster than csv.writer.
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(map(_csv_field, header)) + "\n")
        fh.writelines(",".join(row) + "\n" for row in rows)


def _write_xlsx(path: Path, header: tuple[str, ...], rows: Iterator[list[Any]]) -> None:
    import xlsxwriter  # only the XLSX path needs it

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    # A fixed creation time makes the bytes reproducible (xlsxwriter zips with fixed timestamps).
    workbook.set_properties({"created": datetime(2024, 1, 1)})
    sheet = workbook.add_worksheet("data")
    date_fmt = workbook.add_format({"num_format": "yyyy-mm-dd"})
    ts_fmt = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, header)
    for r, values in enumerate(rows, start=1):
        for c, v in enumerate(values):
            if v is None:
                continue
            if isinstance(v, str):
                sheet.write_string(r, c, v)
            elif isinstance(v, datetime):
                sheet.write_datetime(r, c, v, ts_fmt)
            elif isinstance(v, date):
                sheet.write_datetime(r, c, datetime(v.year, v.month, v.day), date_fmt)
            else:
                sheet.write_number(r, c, v)
    workbook.close()


def _write(
    path: Path, dataset: Dataset, case: Case, fmt: FileFormat, rows: int, seed: int, start: int
) -> Path:
    _ensure_choice("format", fmt, FORMATS)
    values = _iter_values(dataset, case, rows, seed, start, text=fmt == "csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")  # a reader never sees a half-written file
    (_write_csv if fmt == "csv" else _write_xlsx)(tmp, columns_for(dataset, case), values)
    tmp.replace(path)
    return path


def write_case(
    dataset: Dataset, case: Case, fmt: FileFormat, out_dir: Path, *, rows: int = 200, seed: int = 7
) -> Path:
    """Write ``<out_dir>/<dataset>_<case>.<fmt>`` with ``rows`` data rows and return its path."""
    return _write(Path(out_dir) / f"{dataset}_{case}.{fmt}", dataset, case, fmt, rows, seed, 0)


def write_all(out_dir: Path, *, rows: int = 200, seed: int = 7) -> list[Path]:
    """Write every dataset x case x format into ``out_dir``; return the paths."""
    return [
        write_case(dataset, case, fmt, out_dir, rows=rows, seed=seed)
        for dataset in DATASETS
        for case in CASES
        for fmt in FORMATS
    ]


def seed_files(
    dataset: Dataset, out_dir: Path, *, limit: int, per_ingestion_max: int, seed: int = 7
) -> list[Path]:
    """Split ``limit`` baseline rows into CSV files of at most ``per_ingestion_max`` rows.

    Primary keys are disjoint across files; concatenated, the files hold the rows of one baseline file
    of ``limit`` rows. Files are named ``<dataset>_seed_<nnnn>.csv``.
    """
    _ensure_choice("dataset", dataset, DATASETS)
    _ensure_rows("limit", limit)
    _ensure_rows("per_ingestion_max", per_ingestion_max)
    paths = []
    for number, start in enumerate(range(0, limit, per_ingestion_max), start=1):
        rows = min(per_ingestion_max, limit - start)
        path = Path(out_dir) / f"{dataset}_seed_{number:04d}.csv"
        paths.append(_write(path, dataset, "baseline", "csv", rows, seed, start))
    return paths
