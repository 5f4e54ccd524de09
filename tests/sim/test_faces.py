"""Demo faces: who each simulated wearer is, labelled without names, from either source."""

from __future__ import annotations

from pathlib import Path

import pytest

from openem.biometrics.embedding import load_rgb
from openem.sim import faces
from openem.sim.world import face_checkin_of
from tests.biometrics import sample_images


def test_the_first_smartwatch_wearers_check_in_and_exactly_one_shows_another_face() -> None:
    roles = {i: face_checkin_of(f"DEMO-SMA-{i:05d}") for i in range(12)}
    checking = {i: r for i, r in roles.items() if r is not None}
    assert sorted(checking) == [1, 2, 4, 5]
    assert face_checkin_of("DEMO-FIT-00003") is None and face_checkin_of("DEMO-SMA-x") is None
    assert [r.wearer for r in checking.values()] == [0, 1, 2, 3]
    impostors = [r for r in checking.values() if r.impostor]
    assert len(impostors) == 1
    for count in (2, 4):
        for role in checking.values():
            shown, own = role.shown_face(count), role.own_face(count)
            assert (shown != own) is role.impostor


def _person(root: Path, name: str, photos: int) -> None:
    (root / name).mkdir(parents=True)
    for n in range(photos):
        (root / name / f"{name}_{n:04d}.jpg").write_bytes(b"\xff\xd8\xff")


def test_shared_faces_are_the_first_identities_with_three_photos_labelled_without_names(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "images"
    for name, photos in (("Aa_Person", 3), ("Bb_Person", 1), ("Cc_Person", 4), ("Dd_Person", 3),
                         ("Ee_Person", 5), ("Ff_Person", 3)):
        _person(shared, name, photos)
    chosen = faces.demo_faces(tmp_path / "data", shared=shared)
    assert [f.label for f in chosen] == [f"demo face {n}" for n in range(1, 5)]
    assert [f.enrol[0].parent.name for f in chosen] == ["Aa_Person", "Cc_Person", "Dd_Person",
                                                         "Ee_Person"]
    assert all(len(f.enrol) == 2 and set(f.enrol).isdisjoint(f.probes[:1]) for f in chosen)
    assert "Person" not in repr(chosen)


def test_without_the_shared_set_the_sdist_sample_faces_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    caches: list[Path] = []

    def fetch(cache: Path) -> Path:
        caches.append(cache)
        return sample_images.images_dir()

    monkeypatch.setattr(faces, "fetch_sdist_images", fetch)
    chosen = faces.demo_faces(tmp_path / "data", shared=tmp_path / "missing")
    assert caches == [tmp_path / "data" / "demo-faces-cache"]
    assert [f.label for f in chosen] == ["demo face 1", "demo face 2"]
    assert all(p.exists() for f in chosen for p in (*f.enrol, *f.probes))


def test_bursts_start_from_the_probe_photo_facing_the_camera(tmp_path: Path) -> None:
    from openem.biometrics.frames import analyse_frame
    from openem.biometrics.model import load_models

    models = load_models()
    images = sample_images.images_dir()
    # obama2.jpg is turned a little (|yaw| about 0.14), obama.jpg faces the camera (0.01).
    face = faces.DemoFace("demo face 1", enrol=(images / "obama3.jpg",),
                          probes=(images / "obama2.jpg", images / "obama.jpg"))
    turned = analyse_frame(load_rgb(images / "obama2.jpg"), models=models).pose
    assert turned is not None and abs(turned.yaw) > 0.1

    first_frame = tmp_path / "frame.jpg"
    first_frame.write_bytes(faces.BurstMaker([face]).burst(0, "turn_left")[0])
    facing = analyse_frame(load_rgb(first_frame), models=models).pose
    assert facing is not None and abs(facing.yaw) < 0.05


def test_a_photo_whose_simulated_motion_does_not_show_gives_way_to_the_next(
    tmp_path: Path,
) -> None:
    from openem.biometrics.frames import analyse_frame
    from openem.biometrics.model import load_models

    images = sample_images.images_dir()
    face = faces.DemoFace("demo face 1", enrol=(images / "obama3.jpg",),
                          probes=(images / "obama2.jpg", images / "obama.jpg"))
    tried: list[tuple[float, str]] = []

    def only_turned_photos_show_a_turn(portrait: faces._Portrait, challenge: str) -> bool:
        tried.append((portrait.turn, challenge))
        return portrait.turn > 0.1

    maker = faces.BurstMaker([face], shows_motion=only_turned_photos_show_a_turn)
    first_frame = tmp_path / "frame.jpg"
    first_frame.write_bytes(maker.burst(0, "turn_left")[0])
    maker.burst(0, "turn_left", attempt=1)

    pose = analyse_frame(load_rgb(first_frame), models=load_models()).pose
    assert pose is not None and abs(pose.yaw) > 0.1
    assert [challenge for _, challenge in tried] == ["turn_left", "turn_left"]  # chosen once
    assert tried[0][0] < tried[1][0]  # the frontal photo was tried first
