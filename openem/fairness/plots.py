"""DET curves (FNMR against FMR, log axes) as PNG, drawn with matplotlib's Agg backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from openem.fairness import metrics
from openem.fairness.dataset import FaceDataset, Pair


def _plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> None:
    figure, axes = plt.subplots(figsize=(6, 5))
    for label, (genuine, impostor) in curves.items():
        if genuine.size and impostor.size:
            fmr, fnmr = metrics.det_curve(genuine, impostor)
            axes.plot(np.clip(fmr, 1e-5, 1), np.clip(fnmr, 1e-4, 1), label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("false match rate")
    axes.set_ylabel("false non-match rate")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_det_plots(
    directory: Path,
    *,
    pairs: list[Pair],
    distances: np.ndarray,
    peer_distances: np.ndarray,
    dataset: FaceDataset,
) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    same = np.array([p.same for p in pairs])
    written = []
    overall = directory / "det_overall.png"
    _plot(
        {
            "OpenEM": (distances[same], distances[~same]),
            "face_recognition 1.3.0": (peer_distances[same], peer_distances[~same]),
        },
        overall,
        "DET, pair level",
    )
    written.append(str(overall))
    for attribute in dataset.attribute_names:
        curves = {}
        values = sorted({dataset.attributes[i].get(attribute, "") for i in dataset.attributes})
        for value in [v for v in values if v]:
            both = np.array(
                [
                    dataset.attributes.get(p.image_a, {}).get(attribute) == value
                    and dataset.attributes.get(p.image_b, {}).get(attribute) == value
                    for p in pairs
                ]
            )
            curves[f"{attribute}={value}"] = (distances[both & same], distances[both & ~same])
        path = directory / f"det_{attribute}.png"
        _plot(curves, path, f"DET by {attribute}")
        written.append(str(path))
    return written
