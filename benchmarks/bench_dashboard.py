"""Dashboard benchmark: the bundle's gzipped sizes, and the Ingestions and Trends pages in a real browser.

Seeds 10,000 ingestions in bulk (the trends benchmark's seeding: psql \\copy, quality and drift
artifacts) and 1,000,000 curated rows (generated in SQL, lineage pointing at those ingestions),
starts `eventpulse serve` on loopback over them with the built bundle (`make web`), and drives
Debian's Chromium through Playwright: time from navigation to the Ingestions page's first 50 rows, to
the next page after a click, and to the Trends page's three charts (median of N, each in a new tab).
Anchors in the same run: the page's SQL run bare, and the `GET /api/ingestions?limit=50` round trip.
Usage: python benchmarks/bench_dashboard.py [--ingestions N] [--curated-rows N] [--repeat N]
    [--database-url URL]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from bench_ingest import (
    DEFAULT_URL,
    OUT,
    BenchError,
    bench_main,
    describe_machine,
    ensure_psql,
    run_psql,
    with_database,
)
from bench_trends import seed
from sqlalchemy import Engine, create_engine

BENCH_DB = "eventpulse_bench_dashboard"
REPO = Path(__file__).resolve().parents[1]
WEB_DIR = REPO / "web" / "dist"
CHROMIUM = Path(os.environ.get("EVENTPULSE_TEST_CHROMIUM", "/usr/bin/chromium"))
TOKEN = "bench-dashboard-token-0123456789"
TARGET_MS = 1000.0
BUNDLE_TARGET_KB = 300.0
PAGE_SQL = (
    "SELECT count(*) FROM ingestions",
    "SELECT * FROM ingestions ORDER BY created_at DESC, id LIMIT 50 OFFSET 0",
)


def curated_rows_sql(rows: int) -> tuple[str, ...]:
    """A keyed curated table of ``rows`` parcels with lineage columns pointing at the seeded ingestions
    (the issue's "1,000,000 curated rows in the database"; the two pages do not read it, it is there
    so the database is the size such a deployment has)."""
    return (
        "CREATE TABLE curated_parcels (parcel_id text PRIMARY KEY, county text, land_use text, "
        "sale_price double precision, sale_date date, _ingestion_id uuid NOT NULL, "
        "_loaded_at timestamptz NOT NULL, _source_sha256 text NOT NULL, _source_row bigint NOT NULL, "
        "_contract_version text NOT NULL)",
        "WITH ids AS (SELECT id, sha256, (row_number() OVER (ORDER BY id)) - 1 AS n FROM ingestions) "
        "INSERT INTO curated_parcels SELECT 'P' || lpad(g::text, 8, '0'), 'county-' || (g % 64), "
        "(ARRAY['residential', 'commercial', 'agricultural'])[1 + g % 3], (g % 900000) * 1.5 + 1000, "
        "DATE '2020-01-01' + (g % 1800), ids.id, now(), ids.sha256, g, 'bench' "
        f"FROM generate_series(0, {rows - 1}) AS g "
        "JOIN ids ON ids.n = g % (SELECT count(*) FROM ingestions)",
        "ANALYZE curated_parcels",
    )


def bundle_sizes() -> dict[str, Any]:
    """Raw and gzipped bytes of every built asset; the dashboard's JS apart from the API reference's."""
    if not (WEB_DIR / "index.html").is_file():
        raise BenchError(f"no bundle in {WEB_DIR}: run `make web` first")
    files = {}
    for path in sorted((WEB_DIR / "assets").iterdir()):
        data = path.read_bytes()
        files[path.name] = {"bytes": len(data), "gzip_bytes": len(gzip.compress(data, compresslevel=9))}
    dashboard_js = sum(
        f["gzip_bytes"] for n, f in files.items() if n.endswith(".js") and not n.startswith("apidocs")
    )
    return {
        "files": files,
        "dashboard_js_gzip_kb": round(dashboard_js / 1024, 1),
        "api_reference_js_gzip_kb": round(
            sum(f["gzip_bytes"] for n, f in files.items() if n.endswith(".js") and n.startswith("apidocs"))
            / 1024,
            1,
        ),
        "dashboard_js_under_target": dashboard_js / 1024 < BUNDLE_TARGET_KB,
    }


def run_bare(engine: Engine) -> None:
    """The list page's own two statements (count and the first 50 rows), over one pooled connection."""
    with engine.connect() as conn:
        for statement in PAGE_SQL:
            conn.exec_driver_sql(statement).fetchall()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(database_url: str, data_dir: Path) -> Iterator[str]:
    """`eventpulse serve` over the seeded database; no reclaim or sweep loop touches the seeded rows."""
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(data_dir),
        "DATABASE_URL": database_url,
        "EVENTPULSE_DATA_DIR": str(data_dir),
        "EVENTPULSE_CONTRACTS_DIR": str(REPO / "contracts"),
        "EVENTPULSE_WEB_DIR": str(WEB_DIR),
        "EVENTPULSE_API_TOKENS": f"bench:viewer:{hashlib.sha256(TOKEN.encode()).hexdigest()}",
        "EVENTPULSE_RECLAIM_INTERVAL_SECONDS": "0",
        "EVENTPULSE_DEVICE_SWEEP_INTERVAL_SECONDS": "0",
        "EVENTPULSE_LOG_LEVEL": "WARNING",
    }
    binary = REPO / ".venv" / "bin" / "eventpulse"
    log = (data_dir / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "/health", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(
                        f"eventpulse serve did not start; see {data_dir / 'serve.log'}"
                    ) from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def median_ms(action: Callable[[], float | None], repeat: int) -> dict[str, float]:
    """Median and max of ``action``'s own figure (ms) or, when it returns None, its wall time."""
    for _ in range(2):
        action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        own = action()
        times.append(own if own is not None else (time.perf_counter() - started) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(times[-1], 1)}


def measure_pages(url: str, repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise BenchError(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_init_script(f"sessionStorage.setItem('eventpulse.token', {TOKEN!r})")

        def in_new_tab(path: str, ready: str, then: Callable[[Any], float] | None = None) -> float:
            page = context.new_page()
            try:
                started = time.perf_counter()
                page.goto(url + path)
                page.wait_for_function(ready, timeout=30_000)
                loaded = (time.perf_counter() - started) * 1000
                return then(page) if then else loaded
            finally:
                page.close()

        def next_page(page: Any) -> float:
            started = time.perf_counter()
            page.get_by_role("button", name="next →").click()
            page.wait_for_function(
                "() => document.querySelector('[data-testid=page-range]')?.textContent.startsWith('51–100')",
                timeout=30_000,
            )
            return (time.perf_counter() - started) * 1000

        rows = "() => document.querySelectorAll('[data-testid=ingestions] tbody tr').length === 50"
        charts = "() => document.querySelectorAll('[data-testid=chart] canvas').length >= 3"
        out = {
            "ingestions_first_page": median_ms(lambda: in_new_tab("/#/ingestions", rows), repeat),
            "ingestions_next_page": median_ms(lambda: in_new_tab("/#/ingestions", rows, next_page), repeat),
            "trends_90_days_by_day": median_ms(
                lambda: in_new_tab("/#/trends?bucket=day&dataset=parcels", charts), repeat
            ),
        }
        browser.close()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    psql = ensure_psql()
    OUT.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"machine": describe_machine(psql, args.database_url), "repeat": args.repeat}
    result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    result["bundle"] = bundle_sizes()
    result["ingestions"] = args.ingestions
    libpq_url = with_database(args.database_url, BENCH_DB)
    sa_url = with_database(args.database_url, BENCH_DB, "postgresql+pg8000")
    run_psql(
        psql,
        args.database_url,
        f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)",
        f"CREATE DATABASE {BENCH_DB}",
    )
    try:
        engine = create_engine(sa_url)
        result["seed"] = seed(psql, libpq_url, engine, args.ingestions)
        if args.curated_rows:
            started = time.perf_counter()
            run_psql(psql, libpq_url, *curated_rows_sql(args.curated_rows))
            result["curated_rows"] = args.curated_rows
            result["curated_seed_s"] = round(time.perf_counter() - started, 1)
        result["anchor_page_sql"] = median_ms(lambda: run_bare(engine), args.repeat)
        engine.dispose()
        with tempfile.TemporaryDirectory() as data, served(sa_url, Path(data)) as url:
            headers = {"Authorization": f"Bearer {TOKEN}"}

            def api_page() -> None:
                response = requests.get(
                    url + "/api/ingestions", params={"limit": 50}, headers=headers, timeout=30
                )
                if response.status_code != 200:
                    raise BenchError(
                        f"GET /api/ingestions answered {response.status_code}: {response.text[:300]}"
                    )

            result["anchor_api_page"] = median_ms(api_page, args.repeat)
            result["pages"] = measure_pages(url, args.repeat)
    finally:
        if not args.keep:
            run_psql(psql, args.database_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    for figure in result["pages"].values():
        figure["under_target"] = figure["median_ms"] < TARGET_MS
    return result


def print_table(result: dict[str, Any]) -> None:
    bundle = result["bundle"]
    target = f"target < {BUNDLE_TARGET_KB:.0f}"
    print(f"\nbundle: dashboard JS {bundle['dashboard_js_gzip_kb']} kB gzip ({target}), "
          f"API reference JS {bundle['api_reference_js_gzip_kb']} kB gzip")  # fmt: skip
    for name, f in bundle["files"].items():
        print(f"  {name:<40} {f['bytes'] / 1024:>9.1f} kB  {f['gzip_bytes'] / 1024:>8.1f} kB gzip")
    print(f"seeded {result['seed']}; curated rows {result.get('curated_rows', 0):,} "
          f"in {result.get('curated_seed_s', 0)} s")  # fmt: skip
    print(f"anchor: the page's two statements, bare SQL (pg8000, pooled): {result['anchor_page_sql']}")
    print(f"anchor: GET /api/ingestions?limit=50 round trip, {result['anchor_api_page']}")
    for name, figure in result["pages"].items():
        print(f"  {name:<28} median {figure['median_ms']:>7.1f} ms  max {figure['max_ms']:>7.1f} ms"
              f"  under {TARGET_MS:.0f} ms: {figure['under_target']}")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingestions", type=int, default=10_000, help="ingestions to seed (default 10,000)")
    parser.add_argument(
        "--curated-rows",
        type=int,
        default=1_000_000,
        help="curated rows to seed (default 1,000,000; 0: none)",
    )
    parser.add_argument("--repeat", type=int, default=11, help="timed loads per page (default 11)")
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"admin libpq URL ({DEFAULT_URL})")
    parser.add_argument("--keep", action="store_true", help=f"keep the database {BENCH_DB} afterwards")
    return parser


def main(argv: list[str] | None = None) -> int:
    return bench_main(argv, build_parser(), run, print_table, "dashboard")


if __name__ == "__main__":
    raise SystemExit(main())
