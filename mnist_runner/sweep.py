"""invoke sweep: a Bayesian (Optuna TPE) search over lr, momentum, batch size and epochs, for any row.

Every row takes the same flags and logs the same lines (SPEC.md), so one objective serves all:
run the row with the trial's hyperparameters and return its final validation loss. The test set
is never looked at. Each trial is an ordinary runner run in outputs/sweep/<study>/; the study
lives in an SQLite file beside them, so an interrupted sweep continues where it stopped.
"""

import fcntl
import json
import logging
import math
from pathlib import Path

import optuna
from optuna.trial import TrialState

from mnist_runner import executor
from mnist_runner.registry import Project

BATCH_SIZES = (32, 64, 128, 256, 512)
LR_RANGE = (1e-3, 0.5)
MOMENTUM_RANGE = (0.0, 0.99)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class SweepError(Exception):
    pass


class _QuietFailures(logging.Filter):
    """Keep Optuna from logging (with a traceback) a trial that failed on what the sweep reports itself."""

    def __init__(self):
        super().__init__()
        self.trial = None  # "Trial N": Optuna's second line about it goes too

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, (SweepError, KeyboardInterrupt)):  # executor.Interrupted is a KeyboardInterrupt
            self.trial = record.getMessage().split(" failed", 1)[0]
            return False
        return not (self.trial and record.getMessage().startswith(f"{self.trial} failed with value"))


def suggest(trial: optuna.Trial, max_epochs: int) -> dict:
    """The search space: the four hyperparameters the contract lets every row vary."""
    return {
        "lr": trial.suggest_float("lr", *LR_RANGE, log=True),
        "momentum": trial.suggest_float("momentum", *MOMENTUM_RANGE),
        "batch_size": trial.suggest_categorical("batch_size", BATCH_SIZES),
        "epochs": trial.suggest_int("epochs", 1, max_epochs),
    }


def _open_study(folder: Path, name: str, settings: dict, seed: int) -> optuna.Study:
    """Create the study, or load it and check it was made for the same search."""
    storage = f"sqlite:///{folder / 'study.db'}"
    existing = optuna.get_all_study_names(storage) if (folder / "study.db").exists() else []
    if name in existing:
        study = optuna.load_study(study_name=name, storage=storage)
        stored = {key: study.user_attrs.get(key) for key in settings}
        if stored != settings:
            raise SweepError(f"study {name} was made for {stored}, not {settings}: "
                             f"choose another --study name to start a new one")
    else:
        study = optuna.create_study(study_name=name, storage=storage, direction="minimize")
        for key, value in settings.items():
            study.set_user_attr(key, value)
    # Seeded, and reseeded by the study's size, so a resumed sweep does not retrace the trials it has.
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    # A trial still RUNNING was cut off (Ctrl-C, a killed process): mark it failed and run it again first.
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params)
    return study


def run(project: Project, trials: int, outputs: Path = executor.OUTPUTS, study_name: str | None = None,
        dataset: str = "mnist", data_dir: Path | None = None, limit_train: int | None = None, max_epochs: int = 10,
        seed: int = 0, log=print) -> dict:
    """Run the sweep until the study holds `trials` finished trials; returns the best trial's summary."""
    name = study_name or f"{project.name}-{dataset}" + (f"-limit{limit_train}" if limit_train else "")
    folder = outputs / "sweep" / name
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"project": project.name, "dataset": dataset, "limit_train": limit_train, "max_epochs": max_epochs,
                "seed": seed}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with open(folder / "sweep.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepError(f"another sweep of study {name} is running (lock {folder / 'sweep.lock'})") from None
        study = _open_study(folder, name, settings, seed)
        done = len(study.get_trials(deepcopy=False, states=FINISHED))
        if done:
            log(f"== study {name}: {done} trial(s) already done, in {folder}")

        cut_off = {}  # the parameters of the trial a signal stopped

        def objective(trial: optuna.Trial) -> float:
            params = suggest(trial, max_epochs)
            args = [item for key, value in params.items() for item in (f"--{key.replace('_', '-')}", str(value))]
            args += ["--dataset", dataset, "--seed", str(seed)]
            args += ["--data-dir", str(data_dir)] if data_dir else []
            args += ["--limit-train", str(limit_train)] if limit_train else []
            try:
                run_dir, summary = executor.run(project, args, outputs=folder, echo=False)
            except executor.Interrupted as interrupted:
                # Recorded as interrupted in its run folder; Optuna marks the trial failed as the error passes.
                trial.set_user_attr("run_dir", str(interrupted.run_dir))
                trial.set_user_attr("interrupted", interrupted.signal_name)
                cut_off.update(params=dict(trial.params))
                interrupted.context = (f"trial {trial.number} of study {name} failed, and runs again first when "
                                       f"the same command resumes the study")
                raise
            trial.set_user_attr("run_dir", str(run_dir))
            shown = " ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                             for key, value in params.items())
            if summary["exit_code"] == 3:  # diverged: the worst kind of result, but a result
                log(f"trial {trial.number}: {shown} → diverged ({run_dir})")
                raise optuna.TrialPruned("diverged")
            if summary["status"] != "ok" or summary["final_val_loss"] is None:
                raise SweepError(f"trial {trial.number}: {project.name} failed: {summary['error']} (see {run_dir})")
            log(f"trial {trial.number}: {shown} → val_loss {summary['final_val_loss']:.6f}, "
                f"val_acc {summary['final_val_accuracy']:.4f} ({run_dir})")
            return summary["final_val_loss"]

        if trials > done:
            optimizer_log, quiet = optuna.logging.get_logger("optuna.study._optimize"), _QuietFailures()
            optimizer_log.addFilter(quiet)
            try:
                study.optimize(objective, n_trials=trials - done, catch=())
            except executor.Interrupted:
                # Optuna has marked the trial failed: queue its parameters, as _open_study does for a trial
                # left RUNNING, so that the same command runs it again first.
                if "params" in cut_off:
                    study.enqueue_trial(cut_off["params"])
                raise
            finally:
                optimizer_log.removeFilter(quiet)
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not completed:
            raise SweepError(f"study {name}: no trial has finished without diverging yet")
        best = study.best_trial
        result = {"study": name, "folder": str(folder), "trials": len(study.get_trials(states=FINISHED)),
                  "best_val_loss": best.value, "best_params": best.params, "best_trial": best.number,
                  "run_dir": best.user_attrs.get("run_dir")}
        (folder / "best.json").write_text(json.dumps(result, indent=2) + "\n")
        return result


def command_line(project: str, params: dict, dataset: str, limit_train: int | None) -> str:
    flags = " ".join(f"--{key.replace('_', '-')} {value:.6g}" if isinstance(value, float) and not math.isnan(value)
                     else f"--{key.replace('_', '-')} {value}" for key, value in params.items())
    extra = (f" --dataset {dataset}" if dataset != "mnist" else "") + \
            (f" --limit-train {limit_train}" if limit_train else "")
    return f"invoke run --project {project} {flags}{extra}"
