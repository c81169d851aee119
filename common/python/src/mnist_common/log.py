"""The contract's log lines (SPEC.md §6): logfmt `key=value` records on stdout."""

import platform


def _format(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def emit(event: str, **fields) -> None:
    """Print one record; keyword order is the field order."""
    parts = [f"event={event}"] + [f"{key}={_format(value)}" for key, value in fields.items()]
    print(" ".join(parts), flush=True)


def start(row: str, framework: str, device: str = "cpu") -> None:
    emit("start", row=row, language=f"python/{platform.python_version()}", framework=framework, device=device)


def config(args) -> None:
    emit("config", dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
         momentum=args.momentum, seed=args.seed, limit_train=args.limit_train, shuffle=args.shuffle,
         init=args.init is not None)


def data(splits, seconds: float) -> None:
    emit("data", train=len(splits.train_y), val=len(splits.val_y), test=len(splits.test_y), seconds=f"{seconds:.3f}")


def warmup(seconds: float) -> None:
    emit("warmup", seconds=f"{seconds:.3f}")


def epoch(epoch: int, train_loss: float, train_acc: float, val_loss: float, val_acc: float, seconds: float) -> None:
    emit("epoch", epoch=epoch, train_loss=f"{train_loss:.6f}", train_acc=f"{train_acc:.6f}",
         val_loss=f"{val_loss:.6f}", val_acc=f"{val_acc:.6f}", seconds=f"{seconds:.3f}")


def test(test_loss: float, test_acc: float, seconds: float) -> None:
    emit("test", test_loss=f"{test_loss:.6f}", test_acc=f"{test_acc:.6f}", seconds=f"{seconds:.3f}")


def predict(index: int, probabilities) -> None:
    """One image's class (the most probable digit, the lowest on a tie) and its ten probabilities."""
    probabilities = [float(p) for p in probabilities]
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    emit("predict", index=index, **{"class": best}, **{f"p{d}": f"{p:.6f}" for d, p in enumerate(probabilities)})

