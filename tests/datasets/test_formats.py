"""Annotation formats: CVAT XML, Datumaro, Label Studio JSON round trips, mismatches, diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.datasets.conftest import tag_message
from toolkit.cli.main import app
from toolkit.datasets import manifest as mf
from toolkit.datasets import versions as vs
from toolkit.datasets.annotations import export_annotations, import_annotations
from toolkit.datasets.report import diff
from toolkit.errors import AnnotationImportError

runner = CliRunner()


def _cvat(images: list[tuple[mf.Frame, str]]) -> str:
    """A CVAT for images 1.1 file as CVAT writes it (2-decimal coordinates, meta labels)."""
    body = "".join(
        f'  <image id="{i}" name="{f.path}" width="{f.width}" height="{f.height}">\n{shapes}  </image>\n'
        for i, (f, shapes) in enumerate(images)
    )
    labels = "".join(f"<label><name>{n}</name><attributes/></label>" for n in ("car", "person", "sign"))
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        f"  <meta><task><id>7</id><labels>{labels}</labels></task></meta>\n{body}</annotations>\n"
    )


def _labelled(spot: tuple[Path, mf.Manifest], tmp_path: Path) -> tuple[Path, mf.Manifest]:
    """spot@v2: boxes, a tag and a model prediction, imported from a CVAT file."""
    repo, manifest = spot
    imgs = sorted(manifest.image_frames(), key=lambda f: f.path)
    color = next(f for f in imgs if "hand_color" in f.topic and f.path.endswith(".jpg"))
    mono = next(f for f in imgs if "frontleft__image__compressed" in f.path)
    xml = _cvat(
        [
            (
                color,
                '    <box label="car" source="manual" occluded="0" xtl="10.50" ytl="20.25" xbr="200.00" ybr="180.75" '
                'z_order="0"></box>\n'
                '    <box label="person" source="manual" occluded="0" xtl="300.00" ytl="40.00" xbr="360.00" '
                'ybr="220.00" z_order="0"></box>\n'
                '    <tag label="sign" source="manual"></tag>\n'
                '    <box label="car" source="auto" occluded="0" xtl="12.00" ytl="22.00" xbr="198.00" ybr="179.00" '
                'z_order="0"><attribute name="score">0.87</attribute></box>\n',
            ),
            (
                mono,
                '    <box label="sign" source="manual" occluded="0" xtl="0.00" ytl="0.00" xbr="640.00" ybr="480.00" '
                'z_order="0"></box>\n',
            ),
        ]
    )
    path = tmp_path / "cvat.xml"
    path.write_text(xml)
    updated, info, changed = import_annotations("spot", "cvat", path, repo)
    assert info.tag == "spot@v2" and changed == 2
    return repo, updated


def _content(m: mf.Manifest) -> dict[str, tuple[list[tuple[object, ...]], list[tuple[object, ...]]]]:
    return {
        f.id: (
            [(lab.label, lab.bbox.rounded(4) if lab.bbox else None) for lab in f.labels],
            [(lab.label, lab.bbox.rounded(4) if lab.bbox else None, lab.score, lab.source) for lab in f.predictions],
        )
        for f in m.frames
    }


def test_cvat_import_reads_boxes_tags_and_predictions(spot: tuple[Path, mf.Manifest], tmp_path: Path) -> None:
    repo, m = _labelled(spot, tmp_path)
    color = next(f for f in m.frames if f.labels and len(f.labels) == 3)
    assert [(lab.label, lab.bbox.rounded(2) if lab.bbox else None) for lab in color.labels] == [
        ("car", (10.5, 20.25, 189.5, 160.5)),
        ("person", (300.0, 40.0, 60.0, 180.0)),
        ("sign", None),
    ]
    assert [(p.label, p.score, p.source) for p in color.predictions] == [("car", 0.87, "cvat")]
    assert m.lineage[-1].action == "import" and m.lineage[-1].detail["format"] == "cvat"
    assert vs.read_manifest_at(repo, vs.latest_version(repo, "spot")).frames == m.frames  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["cvat", "datumaro", "labelstudio"])
def test_export_import_round_trip_loses_nothing(fmt: str, spot: tuple[Path, mf.Manifest], tmp_path: Path) -> None:
    repo, labelled = _labelled(spot, tmp_path)
    out = tmp_path / ("dm" if fmt == "datumaro" else f"out.{fmt}")
    _, count = export_annotations("spot", fmt, out, repo)
    assert count == 8
    # wipe the labels (a new version), then bring them back from the export
    cleared = labelled.model_copy(deep=True)
    for f in cleared.frames:
        f.labels, f.predictions = [], []
    vs.commit_version(repo, repo / "datasets" / "spot", cleared, "edit", frames_changed=False)
    restored, info, changed = import_annotations("spot", fmt, out, repo)
    assert info.tag == "spot@v4" and changed == 2
    before, after = _content(labelled), _content(restored)
    for fid in before:  # human label sources become the tool's name; everything else is kept
        assert before[fid][0] == after[fid][0]
        assert [p[:3] for p in before[fid][1]] == [p[:3] for p in after[fid][1]]
    assert restored.classes == labelled.classes


def test_datumaro_export_is_read_by_the_datumaro_library(spot: tuple[Path, mf.Manifest], tmp_path: Path) -> None:
    import datumaro as dm

    repo, labelled = _labelled(spot, tmp_path)
    export_annotations("spot", "datumaro", tmp_path / "dm", repo)
    dataset = dm.Dataset.import_from(str(tmp_path / "dm"), "datumaro")
    labels = dataset.categories()[dm.AnnotationType.label]
    assert [c.name for c in labels.items] == ["car", "person", "sign"]
    assert len(dataset) == 8 and set(dataset.subsets()) == {f.split for f in labelled.frames}
    frame = next(f for f in labelled.frames if len(f.labels) == 3)
    item = dataset.get(frame.id, subset=frame.split)
    bboxes = [a for a in item.annotations if a.type == dm.AnnotationType.bbox]
    tags = [a for a in item.annotations if a.type == dm.AnnotationType.label]
    assert [(labels.items[b.label].name, b.get_bbox(), b.attributes.get("score")) for b in bboxes] == [
        ("car", [10.5, 20.25, 189.5, 160.5], None),
        ("person", [300.0, 40.0, 60.0, 180.0], None),
        ("car", [12.0, 22.0, 186.0, 157.0], 0.87),
    ]
    assert [labels.items[t.label].name for t in tags] == ["sign"]
    assert item.media.size == (frame.height, frame.width)


def test_label_studio_tasks_carry_predictions(spot: tuple[Path, mf.Manifest], tmp_path: Path) -> None:
    repo, labelled = _labelled(spot, tmp_path)
    export_annotations("spot", "labelstudio", tmp_path / "tasks.json", repo)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    frame = next(f for f in labelled.frames if f.predictions)
    task = next(t for t in tasks if t["data"]["pitlane_frame"] == frame.id)
    assert task["data"]["image"] == f"/data/local-files/?d=datasets/spot/{frame.path}"
    pred = task["predictions"][0]["result"][0]
    assert pred["type"] == "rectanglelabels" and pred["score"] == 0.87
    assert pred["value"]["x"] == pytest.approx(12.0 * 100 / 640) and pred["value"]["rectanglelabels"] == ["car"]
    assert len(task["annotations"][0]["result"]) == 3


def test_mismatched_import_is_rejected_whole(spot: tuple[Path, mf.Manifest], tmp_path: Path) -> None:
    repo, m = spot
    before = (repo / "datasets" / "spot" / "manifest.json").read_bytes()
    img = m.image_frames()[0]
    bad = tmp_path / "bad.xml"
    bad.write_text(
        _cvat(
            [
                (
                    img,
                    '<box label="truck" source="manual" xtl="1" ytl="1" xbr="5" ybr="5"></box>'
                    f'<box label="car" source="manual" xtl="1" ytl="1" xbr="{img.width + 50}" ybr="5"></box>\n',
                )
            ]
        )
        .replace(f'width="{img.width}"', 'width="999"')
        .replace("</annotations>", '<image id="9" name="frames/ghost.png" width="1" height="1"></image></annotations>')
    )
    with pytest.raises(AnnotationImportError) as err:
        import_annotations("spot", "cvat", bad, repo)
    found = err.value.mismatches
    assert len(found) == 4
    assert any("unknown class 'truck'" in x for x in found)
    assert any("size 999x" in x for x in found)
    assert any("outside the" in x for x in found)
    assert any("ghost.png: not a frame" in x for x in found)
    assert (repo / "datasets" / "spot" / "manifest.json").read_bytes() == before
    assert [v.tag for v in vs.list_versions(repo, "spot")] == ["spot@v1"]


def test_cli_import_error_lists_mismatches_on_one_line(
    spot: tuple[Path, mf.Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = spot
    monkeypatch.chdir(repo)
    bad = tmp_path / "ls.json"
    bad.write_text(json.dumps([{"data": {"pitlane_frame": "nope", "image": "x"}, "annotations": [{"result": []}]}]))
    r = runner.invoke(app, ["dataset", "import", "spot", str(bad), "--format", "labelstudio"])
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "1 mismatch(es)" in r.stderr
    not_xml = tmp_path / "x.xml"
    not_xml.write_text("<annotations><image")
    r = runner.invoke(app, ["dataset", "import", "spot", str(not_xml), "--format", "cvat"])
    assert r.exit_code == 1 and r.stderr.startswith("error:") and "not valid CVAT XML" in r.stderr


def test_diff_shows_added_changed_removed(
    spot: tuple[Path, mf.Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, v2 = _labelled(spot, tmp_path)
    v3 = v2.model_copy(deep=True)
    color = next(f for f in v3.frames if len(f.labels) == 3)
    car, person, _sign = color.labels
    assert car.bbox is not None
    car.bbox = mf.BBox(x=car.bbox.x + 5, y=car.bbox.y, w=car.bbox.w, h=car.bbox.h)  # moved a little
    color.labels.remove(person)
    other = next(f for f in v3.frames if not f.labels)
    other.labels.append(mf.Label(label="person", bbox=mf.BBox(x=1, y=2, w=3, h=4)))
    vs.commit_version(repo, repo / "datasets" / "spot", v3, "edit", frames_changed=False)
    d = diff(v2, v3, "spot@v2", "spot@v3")
    assert (d.count("added"), d.count("changed"), d.count("removed")) == (1, 1, 1)
    assert {(c.kind, c.label, c.frame) for c in d.changes} == {
        ("added", "person", other.id),
        ("changed", "car", color.id),
        ("removed", "person", color.id),
    }
    monkeypatch.chdir(repo)
    r = runner.invoke(app, ["dataset", "diff", "spot@v2", "spot@v3", "--json"])
    assert r.exit_code == 0 and len(json.loads(r.stdout)["changes"]) == 3
    r = runner.invoke(app, ["dataset", "diff", "spot@v2", "spot@v3"])
    assert "1 added, 1 changed, 1 removed" in r.stdout
    assert tag_message(repo, "spot@v3").startswith("sha256:")


def test_version_tags_working_copy_edits_only_when_changed(
    spot: tuple[Path, mf.Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, m = spot
    monkeypatch.chdir(repo)
    r = runner.invoke(app, ["dataset", "version", "spot", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["tag"] is None
    edited = m.model_copy(deep=True)
    edited.version = 1
    edited.frames[0].labels.append(mf.Label(label="car", bbox=mf.BBox(x=0, y=0, w=10, h=10)))
    mf.write(edited, repo / "datasets" / "spot")
    r = runner.invoke(app, ["dataset", "version", "spot", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["tag"] == "spot@v2"
    _, v2, _ = vs.resolve_ref("spot@v2", repo)
    assert v2.frames[0].labels[0].label == "car" and v2.lineage[-1].action == "edit"


def test_cli_export_and_tool_choice(
    spot: tuple[Path, mf.Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = spot
    monkeypatch.chdir(repo)
    r = runner.invoke(app, ["dataset", "export", "spot@v1", "-f", "cvat", "-o", str(tmp_path / "a.xml")])
    assert r.exit_code == 0 and "exported 8 images of spot@v1 as cvat" in r.stdout
    assert (tmp_path / "a.xml").read_text().count("<image ") == 8
    r = runner.invoke(
        app,
        [
            "dataset",
            "export",
            "spot",
            "-f",
            "labelstudio",
            "-o",
            str(tmp_path / "t.json"),
            "--image-url-prefix",
            "https://cdn.example/spot/",
        ],
    )
    assert r.exit_code == 0
    assert all(
        t["data"]["image"].startswith("https://cdn.example/spot/frames/")
        for t in json.loads((tmp_path / "t.json").read_text())
    )
    r = runner.invoke(app, ["dataset", "export", "spot", "-f", "coco", "-o", str(tmp_path / "c.json")])
    assert r.exit_code == 1 and "unknown format 'coco'" in r.stderr
    r = runner.invoke(app, ["annotate", "push", "spot", "--tool", "cvat", "--url", "http://x", "--token", "t"])
    assert r.exit_code == 1 and "CVAT needs Docker" in r.stderr
