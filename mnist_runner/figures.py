"""The report's PNG figures (matplotlib), drawn from a benchmark's results.json and the test set."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 110


def _ok(results: dict) -> list[dict]:
    return [row for row in results["rows"] if row.get("curves")]


def _save(figure, path: Path) -> Path:
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path


def curves(results: dict, path: Path) -> Path:
    """Training and validation loss and accuracy per epoch, every row on the same axes."""
    figure, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True, sharey="row")
    panels = (("train_loss", "training loss"), ("val_loss", "validation loss"),
              ("train_acc", "training accuracy"), ("val_acc", "validation accuracy"))
    colours = plt.get_cmap("tab20").colors
    for axis, (key, title) in zip(axes.flat, panels):
        for index, row in enumerate(_ok(results)):
            epochs = [point["epoch"] for point in row["curves"]]
            axis.plot(epochs, [point[key] for point in row["curves"]], marker="o", markersize=3,
                      color=colours[index % len(colours)], label=row["title"])
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[0, 1].legend(fontsize="small", loc="upper right")
    figure.suptitle(f"Curves of the first run of every row ({results['dataset']})")
    return _save(figure, path)


def bars(results: dict, path: Path) -> Path:
    """Test accuracy and seconds per epoch, mean ± standard deviation over the runs."""
    rows = [row for row in results["rows"] if row["stats"].get("test_accuracy")]
    titles = [row["title"] for row in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 0.45 * len(rows) + 1.5), sharey=True)
    positions = np.arange(len(rows))
    accuracy = [row["stats"]["test_accuracy"] for row in rows]
    left.barh(positions, [100 * a["mean"] for a in accuracy], xerr=[100 * a["std"] for a in accuracy],
              color="tab:blue")
    low = min(100 * a["min"] for a in accuracy)
    left.set_xlim(max(0.0, low - 1.0), 100)
    left.set_xlabel("test accuracy (%)")
    speed = [row["stats"]["seconds_per_epoch"] for row in rows]
    right.barh(positions, [s["mean"] for s in speed], xerr=[s["std"] for s in speed], color="tab:orange")
    right.set_xlabel("seconds per epoch (training only, lower is better)")
    for axis in (left, right):
        axis.grid(axis="x", alpha=0.3)
    left.set_yticks(positions, titles)
    left.invert_yaxis()
    return _save(figure, path)


def confusion(results: dict, path: Path) -> Path:
    """One confusion matrix per row: true digit down, predicted digit across, counts of test images."""
    rows = [row for row in results["rows"] if row.get("confusion")]
    columns = 4
    lines = -(-len(rows) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4 * columns, 4 * lines), squeeze=False)
    for axis, row in zip(axes.flat, rows):
        matrix = np.array(row["confusion"])
        # Log colour scale: the diagonal (about 1,000) would otherwise hide every mistake.
        axis.imshow(matrix, cmap="Blues", norm=matplotlib.colors.LogNorm(vmin=1, vmax=matrix.max()))
        for (true, predicted), count in np.ndenumerate(matrix):
            if count:
                axis.text(predicted, true, str(count), ha="center", va="center", fontsize=6,
                          color="white" if count > matrix.max() ** 0.6 else "black")
        axis.set_title(f"{row['title']}: {np.trace(matrix) / matrix.sum():.2%}", fontsize=9)
        axis.set_xticks(range(10))
        axis.set_yticks(range(10))
        axis.set_xlabel("predicted", fontsize=8)
        axis.set_ylabel("true", fontsize=8)
    for axis in list(axes.flat)[len(rows):]:
        axis.axis("off")
    return _save(figure, path)


def samples(results: dict, images: np.ndarray, labels: np.ndarray, path: Path, typical: int = 24,
            hardest: int = 24) -> Path:
    """Test images with their true label and the rows' prediction: the first ones, then those most rows miss.

    The prediction shown is the most common among the rows; red marks a misclassified image, with how
    many rows got it wrong.
    """
    rows = [row for row in results["rows"] if row.get("predictions")]
    predictions = np.array([[int(c) for c in row["predictions"]] for row in rows])  # [rows, images]
    wrong = (predictions != labels).sum(axis=0)
    order = np.argsort(-wrong, kind="stable")
    chosen = list(range(typical)) + [int(i) for i in order[:hardest] if wrong[i] > 0 and i >= typical]
    columns = 12
    lines = -(-len(chosen) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(columns * 1.1, lines * 1.35), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, chosen):
        votes = np.bincount(predictions[:, index], minlength=10)
        predicted = int(votes.argmax())
        axis.imshow(images[index], cmap="gray_r")
        missed = predicted != labels[index]
        note = f"\n{wrong[index]}/{len(rows)} rows wrong" if wrong[index] else ""
        axis.set_title(f"true {labels[index]} · pred {predicted}{note}", fontsize=6.5,
                       color="red" if missed else ("darkorange" if wrong[index] else "black"))
        if missed:
            for spine in axis.spines.values():
                spine.set(visible=True, color="red", linewidth=2)
            axis.axis("on")
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle(f"The first {typical} test images, then the {len(chosen) - typical} most rows get wrong "
                    "(red: most rows wrong; orange: some rows wrong)", fontsize=9)
    return _save(figure, path)


def cross(results: dict, path: Path) -> Path:
    """Test accuracy of every row (down) evaluating every row's weights (across)."""
    names = results["cross"]["rows"]
    matrix = np.array([[np.nan if cell is None else 100 * cell for cell in line]
                       for line in results["cross"]["accuracy"]], dtype=float)
    size = 0.75 * len(names) + 2
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    image = axis.imshow(matrix, cmap="viridis")
    for (i, j), value in np.ndenumerate(matrix):
        axis.text(j, i, "—" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=7,
                  color="white")
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axis.set_yticks(range(len(names)), names)
    axis.set_xlabel("whose weights")
    axis.set_ylabel("which row evaluates them")
    figure.colorbar(image, ax=axis, label="test accuracy (%)")
    return _save(figure, path)
