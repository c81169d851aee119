"""Log lines (SPEC.md §6) → metrics.jsonl records and the summary.json of a run."""

import re

from mnist_runner import contract

FIELD = re.compile(r"(\w+)=(\S*)")
HYPERPARAMETERS = ("epochs", "batch_size", "lr", "momentum", "seed", "limit_train", "shuffle", "init")


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_line(line: str) -> dict | None:
    """One logfmt record as a dict with typed values, or None for a line that is not one."""
    line = line.strip()
    if not line.startswith("event="):
        return None
    record = {}
    for token in line.split():
        match = FIELD.fullmatch(token)
        if match is None:
            return None
        key, value = match.groups()
        record[key] = value if key in ("event", "row", "language", "framework", "device", "dataset") else _value(value)
    return record


def parse_log(text: str) -> list[dict]:
    return [record for record in map(parse_line, text.splitlines()) if record is not None]


def metrics(records: list[dict]) -> list[dict]:
    """One object per logged metric: split, epoch, loss, accuracy, seconds."""
    rows = []
    for record in records:
        if record["event"] == "epoch":
            epoch = record.get("epoch")
            rows.append({"split": "train", "epoch": epoch, "loss": record.get("train_loss"),
                         "accuracy": record.get("train_acc"), "seconds": record.get("seconds")})
            rows.append({"split": "val", "epoch": epoch, "loss": record.get("val_loss"),
                         "accuracy": record.get("val_acc"), "seconds": None})
        elif record["event"] == "test":
            epochs = [r["epoch"] for r in records if r["event"] == "epoch"]
            rows.append({"split": "test", "epoch": max(epochs, default=0), "loss": record.get("test_loss"),
                         "accuracy": record.get("test_acc"), "seconds": record.get("seconds")})
    return rows


def _last(records: list[dict], event: str) -> dict:
    found = [r for r in records if r["event"] == event]
    return found[-1] if found else {}


def summarize(records: list[dict], exit_code: int, stderr: str = "", interrupted: str | None = None) -> dict:
    """The run's summary: status, hyperparameters, results, timings, versions.

    interrupted names the signal (SIGINT, SIGTERM) that stopped the run: its status is then "interrupted",
    unless the row had finished anyway (exit status 0 and a test line).
    """
    start, config, data, test = (_last(records, e) for e in ("start", "config", "data", "test"))
    epochs = [r for r in records if r["event"] == "epoch"]
    train_seconds = sum(r.get("seconds", 0.0) for r in epochs)
    train_examples = config.get("limit_train", data.get("train"))
    error = ""
    stopped = interrupted is not None and (exit_code != 0 or not test)
    if stopped:
        error = f"interrupted by {interrupted}"
    elif exit_code != 0:
        lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("event=progress ")]
        error = lines[-1].strip() if lines else f"exited with status {exit_code}"
    elif not test:
        error = "no event=test line in the output"
    rate = train_examples * len(epochs) / train_seconds if epochs and train_examples and train_seconds > 0 else None
    return {
        "status": "interrupted" if stopped else "failed" if error else "ok",
        "exit_code": exit_code,
        "error": error or None,
        "dataset": config.get("dataset"),
        "hyperparameters": {key: config.get(key) for key in HYPERPARAMETERS},
        "train_examples": train_examples,
        "epochs_completed": len(epochs),
        "test_accuracy": test.get("test_acc"),
        "test_loss": test.get("test_loss"),
        "final_val_accuracy": epochs[-1].get("val_acc") if epochs else None,
        "final_val_loss": epochs[-1].get("val_loss") if epochs else None,
        "train_seconds": round(train_seconds, 3),
        "seconds_per_epoch": round(train_seconds / len(epochs), 3) if epochs else None,
        "samples_per_second": None if rate is None else round(rate, 1),
        # the contract's matrix-product FLOP per second of training (mnist_runner.contract)
        "gflop_per_second": None if rate is None else round(contract.train_gflop(rate), 1),
        "warmup_seconds": _last(records, "warmup").get("seconds"),
        "data_seconds": data.get("seconds"),
        "test_seconds": test.get("seconds"),
        "language": start.get("language"),
        "framework": start.get("framework"),
        "device": start.get("device"),
    }
