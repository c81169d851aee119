"""invoke bench and invoke report: a small real benchmark (two rows, two runs each) and the report drawn from it."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mnist_runner import ROOT, bench, contract, kernels, registry, report

PNG = b"\x89PNG\r\n\x1a\n"


def test_lines_of_code_counts_code_without_comments_or_blank_lines():
    numpy_row = registry.get("numpy")
    text = (numpy_row.directory / "main.py").read_text().splitlines()
    counted = bench.lines_of_code(numpy_row)
    assert counted["files"] == 1 and 0 < counted["code"] < len([line for line in text if line.strip()])
    assembly = bench.lines_of_code(registry.get("assembly"))  # .inc files are NASM, with ; comments
    assert assembly["files"] == len(registry.get("assembly").sources) and assembly["comments"] > 100


@pytest.fixture(scope="module")
def benchmark(data_root, tmp_path_factory):
    outputs = tmp_path_factory.mktemp("bench-outputs")
    projects = [registry.get("pytorch"), registry.get("numpy")]
    path = bench.run(projects, ["--epochs", "2", "--limit-train", "1000"], repeat=2, data_root=data_root,
                     outputs=outputs, command="invoke bench --project pytorch,numpy --epochs 2 --limit-train 1000")
    return outputs, path, json.loads(path.read_text())


def test_bench_records_every_measure_for_every_row(benchmark, data_root):
    outputs, path, results = benchmark
    assert path.parent.parent == outputs / "bench" and (outputs / "bench" / "latest" / "results.json").is_file()
    assert [row["project"] for row in results["rows"]] == ["pytorch", "numpy"]
    labels = bench._test_labels(data_root, "mnist")[1]
    for row in results["rows"]:
        assert row["status"] == "ok" and row["error"] is None, row
        assert len(row["runs"]) == 2 and all((path.parent / r["run_dir"] / "weights.safetensors").is_file()
                                             for r in row["runs"])
        stats = row["stats"]
        for metric in ("test_accuracy", "seconds_per_epoch", "samples_per_second", "gflop_per_second",
                       "startup_seconds", "time_to_first_step", "data_seconds", "peak_rss_mb"):
            assert stats[metric]["n"] == 2 and stats[metric]["mean"] > 0, (row["project"], metric)
        assert 0.3 < stats["test_accuracy"]["mean"] < 1
        for run in row["runs"]:  # start-up, then reading the data, then the first step, then the end
            assert 0 < run["startup_seconds"] <= run["time_to_first_step"] < run["wall_seconds"], run
        assert [point["epoch"] for point in row["curves"]] == [1, 2]
        predictions = np.array([int(c) for c in row["predictions"]])
        confusion = np.array(row["confusion"])
        assert len(predictions) == 10_000 and confusion.sum() == 10_000
        assert np.trace(confusion) / 10_000 == pytest.approx(np.mean(predictions == labels))
        # The first run's weights classify the test set exactly as that run's own evaluation did.
        assert np.mean(predictions == labels) == pytest.approx(row["runs"][0]["test_accuracy"], abs=1e-4)
        assert row["loc"]["code"] > 50
        # One seed, one machine: the repeats give the same result (a different time is fine).
        assert len({r["test_accuracy"] for r in row["runs"]}) == 1 and "test accuracy" not in (row["disagreement"] or "")
        assert stats["seconds_per_epoch"]["min"] <= stats["seconds_per_epoch"]["median"] <= stats["seconds_per_epoch"]["max"]
    by_name = {row["project"]: row for row in results["rows"]}
    assert by_name["pytorch"]["relative_seconds_per_epoch"] == 1.0
    assert by_name["numpy"]["relative_seconds_per_epoch"] == pytest.approx(
        by_name["numpy"]["stats"]["seconds_per_epoch"]["median"]
        / by_name["pytorch"]["stats"]["seconds_per_epoch"]["median"])
    # What explains the numbers: the ISA, the kernels NumPy's OpenBLAS loaded, the threads, the load.
    isa = results["machine"]["isa"]
    assert isa["native_family"] in ("avx512", "avx2") and isinstance(isa["amx"], list)
    assert by_name["numpy"]["kernels"]["library"].startswith("OpenBLAS")
    assert by_name["numpy"]["kernels"]["loaded"] in ("SkylakeX", "Haswell", "Zen", "Cooperlake", "SapphireRapids")
    assert by_name["pytorch"]["kernels"] == {"library": "MKL and oneDNN (PyTorch)", "loaded": None}
    assert results["kernel_family"] == "native" and "all" in results["threads"]
    assert results["quiet"]["load_before"] >= 0 and isinstance(results["quiet"]["busy"], bool)
    assert 0 <= results["quiet"]["foreign_cpu_share"] <= 1 and results["typical_spread"] >= 0
    cross = results["cross"]
    assert cross["rows"] == ["pytorch", "numpy"]
    for column in range(2):  # the same weights give the same accuracy whichever row evaluates them
        assert cross["accuracy"][0][column] == pytest.approx(cross["accuracy"][1][column], abs=3e-4)
        assert cross["agreement"][1 - column][column] > 0.999 and cross["agreement"][column][column] == 1.0
    assert results["machine"]["cores"] >= 1 and results["repeat"] == 2
    # Every row's arithmetic rate, and the machine's fp32 peak it is a share of (kernels.peak).
    machine = results["machine"]
    assert 1 <= machine["physical_cores"] <= machine["cores"] and machine["cpu_mhz"] > 0
    assert machine["peak_gflop_per_second"] == pytest.approx(
        machine["physical_cores"] * machine["cpu_mhz"] / 1000 * (64 if isa["native_family"] == "avx512" else 32), abs=0.1)
    assert "GHz" in machine["peak"] and "FMA" in machine["peak"]
    for row in results["rows"]:
        for run in row["runs"]:
            assert run["gflop_per_second"] == pytest.approx(
                run["samples_per_second"] * 3_209_216 / 1e9, rel=1e-3, abs=0.1), run
        assert 0 < row["stats"]["gflop_per_second"]["median"] < machine["peak_gflop_per_second"]
    assert results["args"] == ["--epochs", "2", "--limit-train", "1000"]


def test_report_draws_every_figure_and_the_table(benchmark, test_images, tmp_path):
    _, path, results = benchmark
    labels = np.array([int(c) for c in "0" * 10_000], dtype=np.uint8)  # only read for the grid's titles
    written = report.write_report(path, tmp_path / "report.md", test_images, labels)
    text = written.read_text()
    for name in ("curves", "bars", "confusion", "samples", "cross"):
        figure = tmp_path / "report" / f"{name}.png"
        assert figure.read_bytes().startswith(PNG) and f"(report/{name}.png)" in text
    table = [line for line in text.splitlines() if line.startswith("| PyTorch") or line.startswith("| NumPy")]
    assert len(table) == 2
    numpy_row = next(row for row in results["rows"] if row["project"] == "numpy")
    accuracy = numpy_row["stats"]["test_accuracy"]
    assert f"| {100 * accuracy['median']:.2f} |" in table[1]  # the repeats agree, so no range
    assert f"| {report.kernels_cell(numpy_row)} |" in table[1] and numpy_row["kernels"]["loaded"] in table[1]
    assert "| 1.00× |" in table[0]
    peak = results["machine"]["peak_gflop_per_second"]
    gflop = numpy_row["stats"]["gflop_per_second"]["median"]
    assert f"| {gflop:.1f} ({100 * gflop / peak:.0f} %) |" in table[1]
    assert f"fp32 peak: {peak:.1f} GFLOP/s = " in text and "3,209,216 FLOP per example" in text
    assert "4 of 4 cells evaluated" in text


def test_report_marks_rows_that_did_not_run(benchmark):
    _, _, results = benchmark
    absent = {**results["rows"][1], "project": "haskell", "title": "Haskell", "status": "not installed",
              "error": "not installed: run `invoke setup --project haskell`", "runs": [],
              "stats": {metric: None for metric in bench.METRICS}, "relative_seconds_per_epoch": None}
    table = report.results_table({**results, "rows": [*results["rows"], absent]})
    line = table.splitlines()[-1]
    assert line.startswith("| Haskell (not installed: ") and "| — % | — |" in line


def invoke(*args):
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True)


def test_report_of_a_missing_results_file_is_one_error(tmp_path):
    result = invoke("report", "--results", str(tmp_path / "none.json"))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "invoke bench" in result.stderr
    assert "Traceback" not in result.stderr


def test_publish_refuses_anything_but_the_contract_defaults():
    result = invoke("bench", "--publish", "--epochs", "1")
    assert result.returncode == 2 and "--publish" in result.stderr


def test_publish_refuses_fewer_than_three_repeats():
    result = invoke("bench", "--publish", "--repeat", "2")
    assert result.returncode == 2 and "at least 3 repeats" in result.stderr, result.stderr


def test_bench_refuses_an_unknown_kernel_family():
    result = invoke("bench", "--kernels", "sse2", "--project", "numpy")
    assert result.returncode == 2 and result.stderr.startswith("error: --kernels") and "Traceback" not in result.stderr


def _run(seconds, accuracy=0.9771):
    return {"status": "ok", "seconds_per_epoch": seconds, "test_accuracy": accuracy}


def test_repeats_that_disagree_are_marked():
    assert bench.disagreement([_run(2.0), _run(2.1), _run(1.95)]) is None
    assert "seconds per epoch spread" in bench.disagreement([_run(2.0), _run(2.5), _run(2.0)])
    # A spread the whole benchmark shows (the machine's clock drifting) does not single a row out.
    assert bench.disagreement([_run(2.0), _run(2.3), _run(2.0)], typical_spread=0.12) is None
    assert "test accuracy differs" in bench.disagreement([_run(2.0), _run(2.0, 0.9735)], typical_spread=0.5)
    assert bench.disagreement([_run(2.0)]) is None


def test_a_busy_machine_is_recognised_by_its_load_or_by_cpu_time_the_benchmark_did_not_use():
    def cpu(wall, machine, own, stolen=0.0):
        return {"wall": wall, "machine": machine, "own": own, "stolen": stolen}
    cores = len(bench.os.sched_getaffinity(0))
    quiet = bench.quietness(0.1, {}, cpu(0, 0, 0), cpu(100, 100 * cores * 0.9, 100 * cores * 0.88))
    assert not quiet["busy"] and quiet["foreign_cpu_share"] == pytest.approx(0.02)
    loaded = bench.quietness(1.9, {}, cpu(0, 0, 0), cpu(100, 10, 10))
    assert loaded["busy"] and "load average 1.90" in loaded["reasons"][0]
    shared = bench.quietness(0.1, {}, cpu(0, 0, 0), cpu(100, 100 * cores, 100 * cores * 0.6))
    assert shared["busy"] and "40 % of the CPU time went to other processes" in shared["reasons"][0]
    stolen = bench.quietness(0.1, {}, cpu(0, 0, 0), cpu(100, 50, 50, stolen=30 * cores))
    assert stolen["busy"] and "steal" in stolen["reasons"][0]
    assert report.busy_label({"quiet": shared}).startswith("**BUSY MACHINE")
    # The real counters (a test cannot check the share itself: other test workers run beside it).
    before = bench.cpu_seconds()
    # The child burns 0.5 s of CPU time, not of wall time: beside other workers, 0.5 s of wall time
    # may get it less than 0.4 s of a core (seen in CI: 0.35 s).
    subprocess.run([sys.executable, "-c", "import time\nwhile time.process_time() < 0.5: pass"])
    after = bench.cpu_seconds()
    assert after["own"] - before["own"] >= 0.4 and after["machine"] - before["machine"] >= 0.4


def test_readme_results_table_is_generated_from_the_committed_results():
    results = report.load_results(report.RESULTS)
    avx2_path = report.published_results("avx2")
    avx2 = report.load_results(avx2_path) if avx2_path.exists() else None
    assert report.readme_with_results(report.README.read_text(), results, avx2=avx2) == report.README.read_text(), \
        "README.md's results table is out of date: run `invoke readme`"
    projects = {p.name for p in registry.discover()}
    assert {row["project"] for row in results["rows"]} == projects, "the committed benchmark must cover every row"
    assert results["args"] == [] and all(row["status"] == "ok" for row in results["rows"])
    # Every row classified the test set with its own weights (the report's confusion matrices).
    assert all(row.get("confusion") and len(row["predictions"]) == 10_000 for row in results["rows"])
    # Published only as the trust protocol says: repeats, on a quiet machine, with the ISA recorded.
    assert results["repeat"] >= bench.PUBLISH_REPEATS and not results["quiet"]["busy"]
    for addition in results.get("additions", []):  # rows put in later (bench.merge): published the same way
        assert addition["repeat"] >= bench.PUBLISH_REPEATS and not addition["quiet"]["busy"], addition["id"]
    assert results["machine"]["isa"]["native_family"] in ("avx512", "avx2")


def test_the_contract_flop_count_and_the_peak():
    """SPEC.md §2's network: the matrix products of a training example, counted from the layer shapes."""
    shapes = [(784, 512), (512, 512), (512, 10)]
    forward = sum(2 * a * b for a, b in shapes)
    assert contract.TRAIN_FLOP_PER_EXAMPLE == forward * 2 + 2 * (512 * 512 + 512 * 10) == 3_209_216
    assert contract.train_gflop(50_000) == pytest.approx(160.46, abs=0.01)
    avx512 = {"native_family": "avx512"}
    assert kernels.peak("native", avx512, 2, 2100.0)["gflop_per_second"] == 268.8  # 2 × 2.1 GHz × 64
    assert kernels.peak("avx2", avx512, 2, 2100.0)["gflop_per_second"] == 134.4  # capped at AVX2: 32 per cycle
    assert kernels.peak("native", {"native_family": "avx2"}, 2, 2450.0)["gflop_per_second"] == 156.8
    assert kernels.peak("native", {"native_family": "generic"}, 2, 2450.0) is None
    assert kernels.peak("native", avx512, 2, None) is None


def test_report_of_a_benchmark_without_a_peak_derives_gflop_from_samples():
    row = {"stats": {"samples_per_second": {"median": 40_000.0}}}
    assert report.gflop_per_second(row) == pytest.approx(128.37, abs=0.01)
    assert report.gflop_cell(row, None) == "128.4" and report.gflop_cell(row, 256.7) == "128.4 (50 %)"
    assert "no fp32 peak" in report.peak_text({"machine": {}})


def _results(run_id: str, rows: dict, cross: list[str], cpu: str) -> dict:
    """A results.json in miniature: rows {name: seconds per epoch}, the cross matrix of `cross` rows."""
    def row(name, seconds):
        return {"project": name, "title": name.title(), "status": "ok", "error": None,
                "loc": {"code": 100, "comments": 10, "files": 1, "contract": {"code": 50, "comments": 5, "files": 2}},
                "runs": [], "kernels": {"library": "x", "loaded": None}, "disagreement": None,
                "stats": {"test_accuracy": {"median": 0.98, "n": 3, "min": 0.98, "max": 0.98, "spread": 0.0},
                          "seconds_per_epoch": {"median": seconds, "n": 3, "min": seconds, "max": seconds,
                                                "spread": 0.0}},
                "relative_seconds_per_epoch": seconds / rows["pytorch"]}
    n = len(cross)
    return {"schema": bench.SCHEMA, "id": run_id, "started_at": "2026-11-29T10:00:00+00:00",
            "command": f"invoke bench --publish ({run_id})", "args": [], "repeat": 3, "dataset": "mnist",
            "reference": "pytorch", "kernel_family": "native", "quiet": {"busy": False},
            "machine": {"cpu": cpu, "cores": 2, "memory_gib": 24, "os": "Linux", "isa": {"native_family": "avx2"},
                        "peak_gflop_per_second": 100.0},
            "rows": [row(name, seconds) for name, seconds in rows.items()],
            "cross": {"rows": cross, "accuracy": [[0.9 + 0.01 * i + 0.001 * j for j in range(n)] for i in range(n)],
                      "agreement": [[1.0] * n for _ in range(n)]}}


def test_a_row_measured_beside_pytorch_later_is_put_into_the_published_benchmark_and_marked():
    published = _results("old", {"pytorch": 1.0, "numpy": 3.0}, ["pytorch", "numpy"], "Xeon")
    added = _results("new", {"pytorch": 2.0, "tfjs": 50.0}, ["pytorch", "tfjs"], "EPYC")
    merged = bench.merge(published, added, ["pytorch", "tfjs", "numpy"])
    assert [row["project"] for row in merged["rows"]] == ["pytorch", "tfjs", "numpy"]
    by_name = {row["project"]: row for row in merged["rows"]}
    # The published rows keep their run; the added one its own, and its ratio to the PyTorch of its own run.
    assert "measured_in" not in by_name["pytorch"] and by_name["pytorch"]["stats"]["seconds_per_epoch"]["median"] == 1
    assert by_name["tfjs"]["relative_seconds_per_epoch"] == 25.0
    assert by_name["tfjs"]["measured_in"]["id"] == "new" and by_name["tfjs"]["measured_in"]["machine"]["cpu"] == "EPYC"
    assert by_name["tfjs"]["measured_in"]["reference_seconds_per_epoch"] == 2.0
    assert merged["id"] == "old" and merged["additions"][0]["rows"] == ["tfjs"]
    cross = merged["cross"]
    assert cross["rows"] == ["pytorch", "tfjs", "numpy"]
    cell = {(e, o): cross["accuracy"][i][j] for i, e in enumerate(cross["rows"]) for j, o in enumerate(cross["rows"])}
    assert cell["pytorch", "numpy"] == published["cross"]["accuracy"][0][1]  # the published run's
    assert cell["tfjs", "pytorch"] == added["cross"]["accuracy"][1][0]  # the added run's
    assert cell["tfjs", "numpy"] is None and cell["numpy", "tfjs"] is None  # measured in no run yet
    table = report.results_table(merged)
    assert "| Tfjs ‡ |" in table and "| Pytorch |" in table and "25.00×" in table
    text = report.additions_text(merged)
    assert "`new`" in text and "EPYC" in text and "2.00 s an epoch" in text
    again = bench.merge(merged, _results("newer", {"pytorch": 2.0, "tfjs": 40.0}, ["pytorch", "tfjs"], "EPYC"),
                        ["pytorch", "tfjs", "numpy"])  # measured again: the newer run replaces the row
    assert [a["id"] for a in again["additions"]] == ["newer"] and len(again["rows"]) == 3
    assert {r["project"]: r for r in again["rows"]}["tfjs"]["relative_seconds_per_epoch"] == 20.0
    with pytest.raises(ValueError, match="no pytorch row"):
        bench.merge(published, {**added, "rows": added["rows"][1:]}, ["pytorch", "tfjs", "numpy"])
    with pytest.raises(ValueError, match="defaults"):
        bench.merge(published, {**added, "args": ["--epochs", "1"]}, ["pytorch", "tfjs", "numpy"])
