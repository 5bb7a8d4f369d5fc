"""``benchmarks/run.py`` (``make bench``): it knows every benchmark, and reads what each one writes."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))  # the benchmarks import each other by module name
    try:
        spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


runner = load("run")


def test_every_benchmark_it_runs_exists_and_every_name_is_unique() -> None:
    names = [b.name for b in runner.BENCHES]
    assert len(names) == len(set(names))
    for bench in runner.BENCHES:
        assert (BENCHMARKS / bench.script).is_file(), bench.script


def test_an_unknown_name_is_refused_naming_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        runner.main(["ingest", "nope"])
    assert exit_.value.code == 2
    assert "unknown benchmark(s) nope" in capsys.readouterr().err


def test_a_figure_over_its_target_is_missed_and_one_at_it_is_met() -> None:
    assert runner.Figure("x", 1.5, 1.5).met
    assert not runner.Figure("x", 1.51, 1.5).met


def test_the_upsert_figures_come_from_what_bench_upsert_writes(tmp_path: Path) -> None:
    upsert = load("bench_upsert")
    file = tmp_path / "f.csv"
    file.write_text("a\n1\n")
    runs = [
        {"anchor_copy": 1.0, "anchor_copy_after": 1.0, "replay_1pct_changed": {"seconds": s1},
         "replay_all_changed": {"seconds": s2}}
        for s1, s2 in ((1.1, 2.0), (1.3, 3.0), (1.2, 2.6))
    ]  # fmt: skip
    result = upsert.summarise(
        argparse.Namespace(rows=2), file, None, runs, ["replay_1pct_changed", "replay_all_changed"]
    )
    figures = runner.BENCHES[[b.name for b in runner.BENCHES].index("upsert")].extract(result)
    assert [(f.value, f.at_most, f.met) for f in figures] == [(1.2, 1.2, True), (2.6, 2.5, False)]


def test_a_benchmark_that_writes_nothing_is_reported_not_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "quiet.py"
    script.write_text("print('ran, wrote nothing')\n")
    monkeypatch.setattr(runner, "HERE", tmp_path)
    monkeypatch.setattr(runner, "OUT", tmp_path / "out")
    (tmp_path / "out").mkdir()
    bench = runner.Bench("quiet", "quiet.py", (), "quiet-", "nothing", lambda _: [])
    figures, error, written = runner.run_one(bench)
    assert figures == [] and written is None
    assert error == "wrote no benchmarks/out/quiet-*.json"


def test_the_small_files_figure_is_the_per_file_time_against_50_ms() -> None:
    small = runner.BENCHES[[b.name for b in runner.BENCHES].index("small")]
    (figure,) = small.extract({"per_file_ms": 43.8, "target_per_file_ms": 50.0})
    assert (figure.value, figure.at_most, figure.unit, figure.met) == (43.8, 50.0, "ms", True)


def test_the_scale_figures_are_peak_rss_and_time_against_linear() -> None:
    scale = runner.BENCHES[[b.name for b in runner.BENCHES].index("scale")]
    figures = scale.extract({"copies": 10, "peak_rss_mb": 1792.0, "time_vs_linear": 1.131})
    assert [(f.value, f.at_most, f.met) for f in figures] == [(1792.0, 1024.0, False), (1.131, 1.1, False)]


def test_the_formats_figures_are_both_ndjson_ratios_against_their_target() -> None:
    figures = runner._formats({"ratio_cold": 3.21, "ratio_server": 3.10, "target_ratio": 2.5})
    assert [(f.value, f.at_most, f.met) for f in figures] == [(3.21, 2.5, False), (3.10, 2.5, False)]
    assert len(runner._formats({"ratio_cold": 2.0, "target_ratio": 2.5})) == 1  # --skip-server


def test_the_dlt_figures_come_from_what_bench_dlt_writes() -> None:
    dlt = load("bench_dlt")
    steps = {
        "anchor_copy": {"seconds": 4.0},
        "eventpulse": {"seconds": 10.0},
        "eventpulse_server": {"seconds": 7.0},
        "dlt_default": {"seconds": 40.0},
        "dlt_fastest": {"seconds": 9.0},
        "dlt_csv": {"seconds": 12.0},
        "anchor_copy_after": {"seconds": 6.0},
    }
    result = dlt.summarise(steps)
    assert result["copy_seconds_mean"] == 5.0
    assert result["ratios"]["dlt_default_vs_eventpulse_cold"] == 4.0
    assert result["ratios"]["dlt_fastest_vs_copy"] == 1.8
    assert result["dlt_best"] == "dlt_fastest"
    extract = runner.BENCHES[[b.name for b in runner.BENCHES].index("dlt")].extract
    # 10 s against 40 s is 4x faster than the default (met); against 9 s it is slower (missed).
    assert [(f.value, f.at_most, f.met) for f in extract(result)] == [
        (0.25, 0.333, True),
        (1.111, 1.0, False),
    ]
    # When csv COPY is dlt's faster bulk path, "faster than dlt's fastest" is measured against it.
    csv_faster = dlt.summarise({**steps, "dlt_csv": {"seconds": 8.0}})
    figures = extract(csv_faster)
    assert (figures[1].value, figures[1].met) == (1.25, False) and figures[1].name.endswith("dlt csv")


def test_bench_dlt_names_the_path_dlt_took_from_its_own_load_jobs() -> None:
    dlt = load("bench_dlt")
    adbc = {"load_job_formats": ["parquet", "sql"], "adbc_rows_copied": 100}
    assert dlt.path_taken(adbc, 100).startswith("parquet through ADBC")
    # Parquet files that ADBC did not copy in full are not the ADBC path.
    assert dlt.path_taken({**adbc, "adbc_rows_copied": 0}, 100) == "parquet"
    assert dlt.path_taken({"load_job_formats": ["insert_values", "sql"], "adbc_rows_copied": 0}, 100) == (
        "insert_values"
    )
    assert (
        dlt.path_taken({"load_job_formats": ["csv", "sql"], "adbc_rows_copied": 0}, 100) == "csv through COPY"
    )


def test_the_xlsx_figures_come_from_what_bench_formats_writes() -> None:
    formats = load("bench_formats")
    steps = {
        "file": {"rows": 100_000},
        "targets": {"xlsx_vs_fastexcel_at_most": 2.0},
        "fastexcel": {"seconds": 1.0, "process_seconds": 1.5},
        "fastexcel_after": {"seconds": 1.2, "process_seconds": 1.7},
        "anchor_copy": {"seconds": 0.4},
        "anchor_copy_after": {"seconds": 0.6},
        "xlsx_cold": {"seconds": 4.8},
        "xlsx_server": {"seconds": 2.2},
    }
    ratios = formats.summarise_xlsx(steps)
    # The one-shot process against fastexcel's whole process (mean 1.6 s), the server against its read
    # alone (mean 1.1 s); both also against the mean \copy (0.5 s).
    assert ratios == {
        "cold_vs_fastexcel_process": 3.0,
        "cold_vs_fastexcel_read": 4.36,
        "cold_vs_copy": 9.6,
        "server_vs_fastexcel_read": 2.0,
        "server_vs_copy": 4.4,
    }
    figures = runner._xlsx({**steps, "ratios": ratios})
    assert [(f.value, f.at_most, f.met) for f in figures] == [(3.0, 2.0, False), (2.0, 2.0, True)]
    assert figures[0].name.startswith("100k-row XLSX, one-shot")
    no_server = {k: v for k, v in steps.items() if k != "xlsx_server"}
    assert len(runner._xlsx({**no_server, "ratios": formats.summarise_xlsx(no_server)})) == 1


def test_the_parquet_figure_is_its_ratio_over_the_csvs_in_the_same_run() -> None:
    formats = load("bench_formats")
    steps = {
        "file": {"rows": 1_000_000},
        "targets": {"parquet_vs_csv_at_most": 1.3},
        "anchor_copy": {"seconds": 4.0},
        "anchor_copy_after": {"seconds": 6.0},
        "csv_cold": {"seconds": 20.0},
        "parquet_cold": {"seconds": 28.0},
        "csv_server": {"seconds": 10.0},
        "parquet_server": {"seconds": 12.0},
    }
    ratios = formats.summarise_parquet(steps)
    assert ratios == {
        "csv_cold_vs_copy": 4.0,
        "parquet_cold_vs_copy": 5.6,
        "parquet_vs_csv_cold": 1.4,
        "csv_server_vs_copy": 2.0,
        "parquet_server_vs_copy": 2.4,
        "parquet_vs_csv_server": 1.2,
    }
    figures = runner._parquet({**steps, "ratios": ratios})
    assert [(f.value, f.at_most, f.met) for f in figures] == [(1.4, 1.3, False), (1.2, 1.3, True)]
    assert figures[0].name.startswith("1M-row Parquet, one-shot")


def test_a_format_all_run_gives_each_format_its_own_figures() -> None:
    ndjson = {"format": "ndjson", "ratio_cold": 3.0, "target_ratio": 2.5}
    xlsx = {"format": "xlsx", "file": {"rows": 100_000}, "targets": {"xlsx_vs_fastexcel_at_most": 2.0},
            "ratios": {"cold_vs_fastexcel_process": 2.5}}  # fmt: skip
    parquet = {"format": "parquet", "file": {"rows": 1_000_000}, "targets": {"parquet_vs_csv_at_most": 1.3},
               "ratios": {"parquet_vs_csv_cold": 0.9}}  # fmt: skip
    result = {"format": "all", "ndjson": ndjson, "xlsx": xlsx, "parquet": parquet}
    assert [f.value for f in runner._formats(result)] == [3.0]
    assert [f.value for f in runner._xlsx(result)] == [2.5]
    assert [f.value for f in runner._parquet(result)] == [0.9]


def test_bench_formats_refuses_a_format_it_does_not_know(capsys: pytest.CaptureFixture[str]) -> None:
    formats = load("bench_formats")
    with pytest.raises(SystemExit):
        formats.build_parser().parse_args(["--format", "csv"])
    assert "invalid choice: 'csv'" in capsys.readouterr().err
    assert formats.build_parser().parse_args([]).format == "ndjson"  # make bench-formats: NDJSON, as before
