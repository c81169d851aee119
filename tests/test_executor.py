"""The executor and reports on stand-in rows: a tiny script that prints the contract's log lines."""

import json
import sys
import textwrap
import time

import pytest

from mnist_runner import executor, report
from mnist_runner.registry import ManifestError, Project, discover, get, load_project, load_projects, not_runnable

FAKE_ROW = textwrap.dedent("""\
    import sys
    args = sys.argv[1:]
    if "--fail" in args:
        print("event=start row=fake language=python/3 framework=none device=cpu")
        print("error: --fail was given", file=sys.stderr)
        sys.exit(2)
    save = args[args.index("--save") + 1]
    open(save, "wb").write(b"weights")
    print("event=start row=fake language=python/3 framework=none device=cpu")
    print("event=config dataset=mnist epochs=1 batch_size=128 lr=0.05 momentum=0.9 seed=0 limit_train=100 shuffle=1 init=0")
    print("event=data train=100 val=10000 test=10000 seconds=0.100")
    print("progress on stderr", file=sys.stderr)
    print("event=epoch epoch=1 train_loss=1.000000 train_acc=0.500000 val_loss=0.900000 val_acc=0.600000 seconds=0.500")
    print("event=test test_loss=0.800000 test_acc=0.700000 seconds=0.010")
    """)


def fake_project(tmp_path, name="fake", script=FAKE_ROW, **extra) -> Project:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "main.py").write_text(script)
    return Project(name=name, directory=directory, title=name.title(), language="Python", order=1,
                   table={"data": "-", "training": "-", "network": "-", "autograd": "-"},
                   run_command=(sys.executable, "{dir}/main.py"), **extra)


def test_a_run_writes_logs_metrics_and_summary(tmp_path):
    project = fake_project(tmp_path)
    run_dir, summary = executor.run(project, ["--epochs", "1"], outputs=tmp_path / "outputs", echo=False)
    assert run_dir.parent == tmp_path / "outputs" / "fake"
    assert (run_dir / "stdout.log").read_text().count("event=") == 5
    assert (run_dir / "stderr.log").read_text() == "progress on stderr\n"
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["split"] for m in metrics] == ["train", "val", "test"]
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved == summary
    assert summary["status"] == "ok" and summary["exit_code"] == 0 and summary["project"] == "fake"
    assert summary["test_accuracy"] == 0.7 and summary["samples_per_second"] == 200.0
    assert summary["peak_rss_mb"] > 1 and summary["machine"]["cores"] >= 1
    assert (run_dir / "weights.safetensors").read_bytes() == b"weights"  # the runner's default --save
    assert (run_dir.parent / "latest").resolve() == run_dir


def test_runs_never_overwrite_each_other(tmp_path):
    project = fake_project(tmp_path)
    outputs = tmp_path / "outputs"
    first, _ = executor.run(project, [], outputs=outputs, echo=False)
    before = (first / "summary.json").read_text()
    second, _ = executor.run(project, [], outputs=outputs, echo=False)
    assert first != second and (first / "summary.json").read_text() == before
    assert (outputs / "fake" / "latest").resolve() == second


def test_a_failing_row_is_recorded_and_the_others_still_run(tmp_path):
    broken = fake_project(tmp_path, "broken", script=FAKE_ROW.replace('"--fail" in args', 'True'))
    good = fake_project(tmp_path, "good")
    missing = fake_project(tmp_path, "missing", check_paths=("{dir}/not-built",))
    outputs = tmp_path / "outputs"
    lines = []
    results = executor.run_all([missing, broken, good], [], outputs=outputs, log=lines.append, echo=False)
    statuses = {summary["project"]: summary for _, summary in results}
    assert statuses["broken"]["status"] == "failed" and statuses["broken"]["exit_code"] == 2
    assert statuses["broken"]["error"] == "error: --fail was given"
    assert "invoke setup --project missing" in statuses["missing"]["error"]
    assert statuses["good"]["status"] == "ok"
    assert len(results) == 3 and sum("FAILED" in line for line in lines) == 2
    table = report.summary_table([missing, broken, good], outputs)
    assert "failed: error: --fail was given" in table and "not installed" in table


def test_a_failing_build_is_recorded(tmp_path):
    project = fake_project(tmp_path, build_commands=((sys.executable, "-c", "raise SystemExit(4)"),))
    run_dir, summary = executor.run(project, [], outputs=tmp_path / "outputs", echo=False)
    assert summary["status"] == "failed" and "status 4" in summary["error"]
    assert (run_dir / "build.log").exists()


def test_summary_table_shows_latest_results(tmp_path):
    project = fake_project(tmp_path)
    outputs = tmp_path / "outputs"
    executor.run(project, [], outputs=outputs, echo=False)
    path = report.write_summary([project, fake_project(tmp_path, "never")], outputs)
    text = path.read_text()
    assert "| Fake | ok | mnist | 1 | 70.00 % |" in text and "| Never | not run |" in text


def test_manifest_errors_name_the_file(tmp_path):
    (tmp_path / "row").mkdir()
    (tmp_path / "row" / "row.toml").write_text('title = "X"\n')
    with pytest.raises(ManifestError, match="row.toml: missing required key 'language'"):
        load_project(tmp_path / "row")


VARIANTS = textwrap.dedent("""\
    title = "Keras 3"
    language = "Python"
    order = 30
    sources = ["main.py"]
    table = { data = "arrays", training = "fit", network = "Sequential", autograd = "?" }
    run = { command = ["{dir}/.venv/bin/python", "{dir}/main.py"] }
    kernels = { library = "?" }

    [variants.tensorflow]
    title = "Keras 3 on TensorFlow"
    aliases = ["tensorflow"]
    env = { KERAS_BACKEND = "tensorflow" }
    table = { autograd = "TensorFlow" }
    kernels = { library = "oneDNN" }

    [variants.jax]
    title = "Keras 3 on JAX"
    order = 31
    env = { KERAS_BACKEND = "jax" }
    table = { autograd = "JAX" }
    """)


def test_each_variant_is_a_row_sharing_the_directory_with_its_own_environment_and_aliases(tmp_path):
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "row.toml").write_text(VARIANTS)
    tensorflow, jax = load_projects(tmp_path / "keras")
    assert (tensorflow.name, tensorflow.title, tensorflow.order) == ("keras-tensorflow", "Keras 3 on TensorFlow", 30)
    assert (jax.name, jax.order, dict(jax.env)) == ("keras-jax", 31, {"KERAS_BACKEND": "jax"})
    # tables merge key by key: the variant's autograd, the shared data column
    assert (tensorflow.table["autograd"], tensorflow.table["data"], jax.table["autograd"]) == ("TensorFlow", "arrays", "JAX")
    assert (tensorflow.kernel_library, jax.kernel_library) == ("oneDNN", "?")
    assert tensorflow.directory == jax.directory == tmp_path / "keras" and tensorflow.sources == jax.sources
    assert [p.name for p in discover(tmp_path)] == ["keras-tensorflow", "keras-jax"]
    assert get("tensorflow", tmp_path) == tensorflow and get("keras-jax", tmp_path) == jax
    with pytest.raises(ManifestError, match="unknown project 'keras'; known: keras-tensorflow, keras-jax"):
        get("keras", tmp_path)
    with pytest.raises(ManifestError, match="holds 2 variants"):
        load_project(tmp_path / "keras")
    (tmp_path / "tensorflow").mkdir()  # a row whose name another row already answers to
    (tmp_path / "tensorflow" / "row.toml").write_text(VARIANTS.split("[variants")[0])
    with pytest.raises(ManifestError, match="the name 'tensorflow' is taken by keras-tensorflow"):
        discover(tmp_path)


def test_a_variant_with_extras_gets_an_environment_of_its_own_holding_only_them(tmp_path, monkeypatch):
    from mnist_runner import setup as installer

    (tmp_path / "keras").mkdir()
    shared = VARIANTS.split("[variants")[0].replace("{dir}/.venv/bin/python", "{venv}/bin/python")
    (tmp_path / "keras" / "row.toml").write_text(shared + textwrap.dedent("""\
        setup = { uv = true }
        [variants.tensorflow]
        [variants.jax]
        setup = { extras = ["jax"] }
        """))
    tensorflow, jax = load_projects(tmp_path / "keras")
    assert (tensorflow.venv, tensorflow.uv_extras) == (tmp_path / "keras" / ".venv", ())
    assert (jax.venv, jax.uv_extras, jax.uv) == (tmp_path / "keras" / ".venv-jax", ("jax",), True)
    assert jax.argv(jax.run_command)[0] == str(tmp_path / "keras" / ".venv-jax" / "bin" / "python")
    assert jax.missing() == [str(tmp_path / "keras" / ".venv-jax")]
    calls = []
    monkeypatch.setattr(installer, "_run", lambda argv, **kw: calls.append((argv, kw["env"])))
    installer.uv_sync(jax)
    (argv, env), = calls
    assert argv[argv.index("--extra") + 1] == "jax" and env["UV_PROJECT_ENVIRONMENT"] == str(jax.venv)
    (tmp_path / "keras" / "row.toml").write_text(VARIANTS.split("[variants")[0] + "setup = { extras = [\"jax\"] }\n")
    with pytest.raises(ManifestError, match="extras belong to a variant"):
        load_projects(tmp_path / "keras")


def test_a_variants_environment_reaches_its_program_and_the_callers_comes_after(tmp_path):
    script = "import os; print('event=start row=' + os.environ['KERAS_BACKEND'] + '-' + os.environ['OTHER'])"
    project = fake_project(tmp_path, script=script, env=(("KERAS_BACKEND", "jax"), ("OTHER", "row")))
    assert executor.launch(project, []).stdout.strip() == "event=start row=jax-row"
    assert executor.launch(project, [], env={"OTHER": "caller"}).stdout.strip() == "event=start row=jax-caller"


def test_run_env_reaches_every_run_of_a_row_and_a_variants_env_overrides_it(tmp_path):
    (tmp_path / "mlx").mkdir()
    row = VARIANTS.split("[variants")[0].replace("run = { command", 'run = { env = { LD_PRELOAD = "libx.so", A = "row" }, command')
    (tmp_path / "mlx" / "row.toml").write_text(row)
    assert dict(load_project(tmp_path / "mlx").env) == {"LD_PRELOAD": "libx.so", "A": "row"}
    (tmp_path / "mlx" / "row.toml").write_text(row + '[variants.b]\nenv = { A = "variant" }\n')
    assert dict(load_projects(tmp_path / "mlx")[0].env) == {"LD_PRELOAD": "libx.so", "A": "variant"}


def test_the_frameworks_that_cannot_run_name_their_reason_and_dates(tmp_path):
    entries = not_runnable()
    assert {e.title for e in entries} >= {"CNTK", "Caffe2"}
    assert all(e.reason and any(year in e.last_release for year in ("2019", "2020", "2021", "2022")) for e in entries)
    (tmp_path / "bad.toml").write_text('[[framework]]\ntitle = "X"\n')
    with pytest.raises(ManifestError, match="missing 'language'"):
        not_runnable(tmp_path / "bad.toml")


PROGRESS_ROW = textwrap.dedent("""\
    import sys, time
    print("event=start row=fake language=python/3 framework=none device=cpu", flush=True)
    print("event=progress stage=start row=fake", file=sys.stderr, flush=True)
    print("event=progress stage=data dataset=mnist", file=sys.stderr, flush=True)
    print("a framework's own chatter", file=sys.stderr, flush=True)
    for batch in (1, 2, 3):
        print(f"event=progress stage=train epoch=1 epochs=1 batch={batch} batches=3 loss=0.{batch}00000",
              file=sys.stderr, flush=True)
    print("error: --sleep must be a number, got 'x'", file=sys.stderr, flush=True)
    sys.exit(2)
    """)


def test_launch_collects_progress_lines_apart_from_the_error_line(tmp_path):
    completed = executor.launch(fake_project(tmp_path, script=PROGRESS_ROW), [])
    assert completed.exit_code == 2 and completed.error_line == "error: --sleep must be a number, got 'x'"
    assert [record["stage"] for _, record in completed.progress] == ["start", "data", "train", "train", "train"]
    assert completed.progress[-1][1] == {"event": "progress", "stage": "train", "epoch": 1, "epochs": 1, "batch": 3,
                                         "batches": 3, "loss": 0.3}
    assert list(completed.arrivals) == ["start"]


def test_a_run_records_the_error_line_not_the_last_progress_line(tmp_path):
    _, summary = executor.run(fake_project(tmp_path, script=PROGRESS_ROW), [], outputs=tmp_path / "o", echo=False)
    assert summary["error"] == "error: --sleep must be a number, got 'x'"


def test_launch_kills_a_row_that_outlives_its_timeout(tmp_path):
    project = fake_project(tmp_path, script="import time\ntime.sleep(60)\n")
    with pytest.raises(TimeoutError, match="longer than 1 s"):
        executor.launch(project, [], timeout=1)


def test_the_live_display_shows_progress_in_a_bar_and_every_other_line_above_it(tmp_path):
    from io import StringIO

    from rich.console import Console

    from mnist_runner.display import Live

    screen = StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with Live("fake", console=console) as live:
        executor.run(fake_project(tmp_path, script=PROGRESS_ROW), [], outputs=tmp_path / "o", echo=live)
        shown = live.bar.tasks[0]
        assert (shown.description, shown.completed, shown.total) == ("fake: epoch 1/1", 3, 3)
        assert shown.fields["loss"] == "loss 0.3000"
    text = screen.getvalue()
    assert "a framework's own chatter" in text and "error: --sleep" in text
    assert "event=progress" not in text  # shown as the bar, not as lines


def test_an_error_line_waits_a_moment_for_the_signal_that_may_have_caused_it():
    """Ctrl-C reaches the row and the runner together: the row's `error: interrupted` must not be echoed
    when the runner's own signal flag goes up a moment later, and is echoed when no signal comes."""
    raised_at = time.monotonic() + 0.05
    assert executor._signalled_soon(lambda: time.monotonic() > raised_at)
    started = time.monotonic()
    assert not executor._signalled_soon(lambda: False, within=0.1)
    assert 0.1 <= time.monotonic() - started < 1


def test_invoke_run_passes_what_follows_a_double_dash_to_the_rows(monkeypatch):
    import tasks

    monkeypatch.setattr(sys, "argv", ["invoke", "run", "--project", "keras-jax", "--", "--save-keras", "m.keras"])
    assert tasks._remainder() == ["--save-keras", "m.keras"]
    monkeypatch.setattr(sys, "argv", ["invoke", "run", "--project", "keras-jax", "--epochs", "1"])
    assert tasks._remainder() == []
