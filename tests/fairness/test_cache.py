from __future__ import annotations

from pathlib import Path

import numpy as np

from openem.fairness.cache import DescriptorCache, chip_key


def test_a_cached_value_is_computed_once(tmp_path: Path) -> None:
    cache = DescriptorCache(tmp_path)
    calls: list[int] = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.arange(128, dtype=np.float64)

    first = cache.get_or_compute("ab" * 32, compute)
    second = DescriptorCache(tmp_path).get_or_compute("ab" * 32, compute)
    assert len(calls) == 1
    assert np.array_equal(first, second)


def test_without_a_directory_it_always_computes() -> None:
    cache = DescriptorCache(None)
    calls: list[int] = []
    for _ in range(2):
        cache.get_or_compute("k", lambda: calls.append(1) or np.zeros(1))
    assert len(calls) == 2


def test_the_key_follows_the_chip_pixels_and_jitters() -> None:
    chip = np.zeros((150, 150, 3), dtype=np.uint8)
    changed = chip.copy()
    changed[75, 75, 0] = 1
    assert chip_key(chip) == chip_key(chip.copy())
    assert chip_key(chip) != chip_key(changed)
    assert chip_key(chip) != chip_key(chip, jitters=10)
