"""Log lines → metrics.jsonl records and summary.json."""

from mnist_runner import normalize

LOG = """\
event=start row=numpy language=python/3.11.7 framework=numpy/2.4.6 device=cpu
event=config dataset=mnist epochs=2 batch_size=128 lr=0.05 momentum=0.9 seed=0 limit_train=2000 shuffle=1 init=0
event=data train=2000 val=10000 test=10000 seconds=0.412
some chatter that is not a record
event=warmup seconds=1.500
event=epoch epoch=1 train_loss=0.901234 train_acc=0.731500 val_loss=0.412345 val_acc=0.881200 seconds=0.200
event=epoch epoch=2 train_loss=0.501234 train_acc=0.831500 val_loss=0.312345 val_acc=0.901200 seconds=0.300
event=test test_loss=0.325678 test_acc=0.899100 seconds=0.061
"""


def test_parse_line_types_values():
    record = normalize.parse_line("event=epoch epoch=3 train_loss=0.5 device=cpu lr=5e-2")
    assert record == {"event": "epoch", "epoch": 3, "train_loss": 0.5, "device": "cpu", "lr": 0.05}
    assert normalize.parse_line("epoch=3") is None
    assert normalize.parse_line("event=epoch broken token") is None


def test_metrics_have_one_record_per_split_and_epoch():
    rows = normalize.metrics(normalize.parse_log(LOG))
    assert [(r["split"], r["epoch"]) for r in rows] == [("train", 1), ("val", 1), ("train", 2), ("val", 2),
                                                          ("test", 2)]
    assert rows[2] == {"split": "train", "epoch": 2, "loss": 0.501234, "accuracy": 0.8315, "seconds": 0.3}
    assert rows[-1]["accuracy"] == 0.8991


def test_summary_of_a_good_run():
    summary = normalize.summarize(normalize.parse_log(LOG), exit_code=0)
    assert summary["status"] == "ok" and summary["error"] is None
    assert summary["hyperparameters"]["limit_train"] == 2000 and summary["hyperparameters"]["lr"] == 0.05
    assert summary["train_examples"] == 2000 and summary["epochs_completed"] == 2
    assert summary["train_seconds"] == 0.5 and summary["seconds_per_epoch"] == 0.25
    assert summary["samples_per_second"] == 8000.0
    # 4,000 examples trained in 0.5 s, 3,209,216 FLOP each (the contract's matrix products)
    assert summary["gflop_per_second"] == round(4000 * 3_209_216 / 0.5 / 1e9, 1) == 25.7
    assert summary["warmup_seconds"] == 1.5 and summary["data_seconds"] == 0.412
    assert summary["test_accuracy"] == 0.8991 and summary["framework"] == "numpy/2.4.6"


def test_summary_of_a_failed_run_keeps_the_error_line():
    records = normalize.parse_log(LOG.split("event=epoch")[0])
    summary = normalize.summarize(records, exit_code=2, stderr="progress\nerror: --lr must be a number > 0\n")
    assert summary["status"] == "failed" and summary["error"] == "error: --lr must be a number > 0"
    assert summary["test_accuracy"] is None and summary["samples_per_second"] is None


def test_exit_zero_without_a_test_line_is_a_failure():
    summary = normalize.summarize(normalize.parse_log(LOG.replace("event=test", "event=tset")), exit_code=0)
    assert summary["status"] == "failed" and "event=test" in summary["error"]
