from __future__ import annotations

from pathlib import Path

from openem.fairness.dataset import load_dataset


def test_any_attribute_columns_are_read(tmp_path: Path) -> None:
    (tmp_path / "pairs.csv").write_text(
        "fold,image_a,image_b,same\n1,A/A_0001.jpg,A/A_0002.jpg,1\n1,A/A_0001.jpg,B/B_0001.jpg,0\n"
    )
    (tmp_path / "attributes.csv").write_text(
        "image,identity,sex,age_band\nA/A_0001.jpg,A,female,30-39\n"
        "A/A_0002.jpg,A,female,30-39\nB/B_0001.jpg,B,,60+\n"
    )
    dataset = load_dataset(tmp_path)
    assert [p.same for p in dataset.pairs] == [True, False]
    assert dataset.attribute_names == ["age_band", "sex"]
    assert dataset.attributes["B/B_0001.jpg"] == {"sex": "", "age_band": "60+"}
    assert dataset.images_of() == {"A": ["A/A_0001.jpg", "A/A_0002.jpg"], "B": ["B/B_0001.jpg"]}
    assert dataset.path("A/A_0001.jpg") == tmp_path / "images" / "A" / "A_0001.jpg"


def test_attributes_file_is_optional(tmp_path: Path) -> None:
    (tmp_path / "pairs.csv").write_text("fold,image_a,image_b,same\n2,X/X_1.jpg,Y/Y_1.jpg,0\n")
    dataset = load_dataset(tmp_path)
    assert dataset.identity == {"X/X_1.jpg": "X", "Y/Y_1.jpg": "Y"}
