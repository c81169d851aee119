"""invoke sweep: an Optuna study over a row's hyperparameters that resumes where it stopped."""

import json
from pathlib import Path

import optuna
import pytest

from mnist_runner import registry, sweep

QUICK = dict(limit_train=500, max_epochs=1)


@pytest.fixture
def numpy_row():
    return registry.get("numpy")


def test_a_sweep_runs_trials_records_them_and_resumes(numpy_row, data_root, tmp_path):
    lines = []
    best = sweep.run(numpy_row, 2, outputs=tmp_path, data_dir=data_root, log=lines.append, **QUICK)
    folder = tmp_path / "sweep" / "numpy-mnist-limit500"
    assert best["folder"] == str(folder) and best["trials"] == 2
    assert set(best["best_params"]) == {"lr", "momentum", "batch_size", "epochs"}
    assert json.loads((folder / "best.json").read_text()) == best
    assert len([line for line in lines if line.startswith("trial ")]) == 2
    study = optuna.load_study(study_name="numpy-mnist-limit500", storage=f"sqlite:///{folder / 'study.db'}")
    values = [t.value for t in study.trials]
    assert best["best_val_loss"] == min(values) and all(0 < v < 2.4 for v in values)
    run_dirs = [t.user_attrs["run_dir"] for t in study.trials]
    assert all(Path(d).parent == folder / "numpy" and (Path(d) / "summary.json").is_file() for d in run_dirs)

    # The same command with more trials continues the stored study: one more trial, not three.
    lines.clear()
    again = sweep.run(numpy_row, 3, outputs=tmp_path, data_dir=data_root, log=lines.append, **QUICK)
    assert again["trials"] == 3 and lines[0].startswith("== study numpy-mnist-limit500: 2 trial(s) already done")
    assert len([line for line in lines if line.startswith("trial ")]) == 1


def test_a_trial_cut_off_mid_run_is_run_again(numpy_row, data_root, tmp_path):
    sweep.run(numpy_row, 1, outputs=tmp_path, data_dir=data_root, log=lambda _: None, **QUICK)
    storage = f"sqlite:///{tmp_path / 'sweep' / 'numpy-mnist-limit500' / 'study.db'}"
    study = optuna.load_study(study_name="numpy-mnist-limit500", storage=storage)
    cut_off = study.ask()  # as if the process had died in the middle of this trial
    params = sweep.suggest(cut_off, QUICK["max_epochs"])
    sweep.run(numpy_row, 2, outputs=tmp_path, data_dir=data_root, log=lambda _: None, **QUICK)
    trials = optuna.load_study(study_name="numpy-mnist-limit500", storage=storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL,
                                         optuna.trial.TrialState.COMPLETE]
    assert trials[2].params == params


def test_a_study_is_not_resumed_with_other_settings(numpy_row, data_root, tmp_path):
    sweep.run(numpy_row, 1, outputs=tmp_path, data_dir=data_root, study_name="mine", log=lambda _: None, **QUICK)
    with pytest.raises(sweep.SweepError, match="choose another --study"):
        sweep.run(numpy_row, 2, outputs=tmp_path, data_dir=data_root, study_name="mine", log=lambda _: None,
                  limit_train=600, max_epochs=1)


def test_the_best_command_line_reproduces_the_trial():
    line = sweep.command_line("rust", {"lr": 0.0123456789, "momentum": 0.5, "batch_size": 64, "epochs": 3},
                              "fashion-mnist", 1000)
    assert line == ("invoke run --project rust --lr 0.0123457 --momentum 0.5 --batch-size 64 --epochs 3 "
                    "--dataset fashion-mnist --limit-train 1000")
