"""A face-verification evaluation directory: images/, pairs.csv, attributes.csv."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pair:
    fold: int
    image_a: str
    image_b: str
    same: bool


@dataclass(frozen=True)
class FaceDataset:
    root: Path
    pairs: list[Pair]
    identity: dict[str, str]
    attributes: dict[str, dict[str, str]]

    def path(self, image: str) -> Path:
        return self.root / "images" / image

    @property
    def attribute_names(self) -> list[str]:
        names: set[str] = set()
        for values in self.attributes.values():
            names.update(values)
        return sorted(names)

    def images_of(self) -> dict[str, list[str]]:
        by_identity: dict[str, list[str]] = {}
        for image, person in sorted(self.identity.items()):
            by_identity.setdefault(person, []).append(image)
        return by_identity


def load_dataset(directory: Path) -> FaceDataset:
    """Read the layout; attributes.csv may carry any attribute columns after image, identity."""
    with (directory / "pairs.csv").open(newline="") as handle:
        pairs = [
            Pair(int(r["fold"]), r["image_a"], r["image_b"], r["same"].strip() == "1")
            for r in csv.DictReader(handle)
        ]
    identity: dict[str, str] = {}
    attributes: dict[str, dict[str, str]] = {}
    attributes_file = directory / "attributes.csv"
    if attributes_file.exists():
        with attributes_file.open(newline="") as handle:
            for row in csv.DictReader(handle):
                image = row.pop("image")
                identity[image] = row.pop("identity", "") or image.split("/")[0]
                attributes[image] = {k: (v or "").strip() for k, v in row.items() if k}
    for pair in pairs:
        for image in (pair.image_a, pair.image_b):
            identity.setdefault(image, image.split("/")[0])
            attributes.setdefault(image, {})
    return FaceDataset(root=directory, pairs=pairs, identity=identity, attributes=attributes)
