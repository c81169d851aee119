"""Progress lines (SPEC.md §6 "Progress (stderr)"): their format, the rate limit and the lazy loss."""

from mnist_common import progress
from mnist_common.progress import Progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def lines(capsys) -> list[str]:
    captured = capsys.readouterr()
    assert captured.out == "", "progress lines go to stderr only"
    return captured.err.splitlines()


def test_stage_lines_and_their_fields(capsys, monkeypatch):
    monkeypatch.setattr(progress._progress, "clock", Clock())  # no time passes
    progress.start("numpy")
    progress.data("fashion-mnist")
    progress.warmup()
    progress.train(2, 5, 7, 391, 0.1234567)
    assert lines(capsys) == [
        "event=progress stage=start row=numpy",
        "event=progress stage=data dataset=fashion-mnist",
        "event=progress stage=warmup",
    ]  # the train line came too soon after warmup's


def test_train_line_format_with_six_decimals(capsys):
    Progress().train(1, 1, 1, 391, 2.3015234)
    assert lines(capsys) == ["event=progress stage=train epoch=1 epochs=1 batch=1 batches=391 loss=2.301523"]


def test_train_lines_are_at_least_a_quarter_second_apart(capsys):
    clock = Clock()
    stream = Progress(clock=clock)
    stream.start("numpy")
    printed = []
    for batch in range(1, 41):  # a batch every 0.1 s
        clock.now += 0.1
        if stream.train(1, 1, batch, 40, 1.0):
            printed.append(batch)
    assert printed == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39]
    assert len(lines(capsys)) == 1 + len(printed)


def test_any_progress_line_restarts_the_interval(capsys):
    clock = Clock()
    stream = Progress(clock=clock)
    stream.warmup()
    clock.now += 0.2
    assert not stream.train(1, 1, 1, 10, 1.0)
    clock.now += 0.05
    assert stream.train(1, 1, 2, 10, 1.0)
    clock.now += 0.249
    assert not stream.train(1, 1, 3, 10, 1.0)


class DeviceScalar:
    """Stands in for a torch tensor or JAX array: float() is the costly read from the device."""

    def __init__(self, value):
        self.value, self.reads = value, 0

    def __float__(self):
        self.reads += 1
        return self.value


def test_loss_is_read_only_for_a_printed_line(capsys):
    clock = Clock()
    stream = Progress(clock=clock)
    stream.start("haiku")
    calls = []
    scalar = DeviceScalar(0.5)
    for batch in range(1, 11):  # 10 batches in 0.1 s: none printed
        clock.now += 0.01
        stream.train(1, 1, batch, 20, lambda: calls.append(batch) or 0.5)
        stream.train(1, 1, batch, 20, scalar)
    assert calls == [] and scalar.reads == 0
    clock.now += 1
    assert stream.train(1, 1, 11, 20, lambda: 0.25)
    assert lines(capsys)[-1].endswith("batch=11 batches=20 loss=0.250000")
    clock.now += 1
    assert stream.train(1, 1, 12, 20, scalar) and scalar.reads == 1


def test_a_diverged_loss_still_prints(capsys):
    Progress().train(1, 1, 3, 16, float("nan"))
    assert lines(capsys) == ["event=progress stage=train epoch=1 epochs=1 batch=3 batches=16 loss=nan"]


def test_default_interval_is_the_contracts():
    assert progress.INTERVAL == 0.25 and Progress().interval == 0.25
