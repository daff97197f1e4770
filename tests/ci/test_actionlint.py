"""actionlint over every workflow of this repo and of the rendered copier templates: zero findings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.ci import lint
from toolkit.cli.main import app

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p.parent for p in (REPO / "templates").glob("*/copier.yml"))


def _workflows(root: Path) -> list[Path]:
    return sorted([*root.glob(".github/workflows/*.yml"), *root.glob(".github/workflows/*.yaml")])


def test_repo_workflows_have_no_findings() -> None:
    files = _workflows(REPO)
    assert {"ci.yml", "experiment.yml", "release.yml"} <= {f.name for f in files}
    findings = lint(files, cwd=REPO)
    assert findings == [], "\n".join(map(str, findings))


def test_documented_workflow_examples_have_no_findings() -> None:
    examples = sorted((REPO / "docs" / "cicd").glob("*.yml"))
    assert examples, "docs/cicd has no workflow examples"
    findings = lint(examples, cwd=REPO)
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.name for t in TEMPLATES])
def test_rendered_template_workflows_have_no_findings(template: Path, tmp_path: Path) -> None:
    from copier import run_copy

    # Render first: the template's files may hold Jinja that is not workflow syntax yet.
    out = tmp_path / "rendered"
    run_copy(str(template), out, defaults=True, unsafe=True, quiet=True)
    files = _workflows(out)
    assert files, f"template {template.name} renders no workflow"
    findings = lint(files, cwd=out)
    assert findings == [], "\n".join(map(str, findings))


def test_cli_lint_prints_actionlint_message_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.nosuchprop }}\n      - uses: actions/checkout@v4\n        with:\n"
        "          not-an-input: 1\n"
    )
    result = CliRunner().invoke(app, ["ci", "lint", str(bad)])
    assert result.exit_code == 1
    assert "not-an-input" in result.stdout or "nosuchprop" in result.stdout
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_lint_clean_file_exits_0(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ok\n")
    result = CliRunner().invoke(app, ["ci", "lint", str(good)])
    assert result.exit_code == 0, result.output
    assert "no findings" in result.stderr


def _actions_project(tmp_path: Path, workflow: str) -> Path:
    import shutil

    root = tmp_path / "proj"
    shutil.copytree(REPO / ".github" / "actions", root / ".github" / "actions")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "use.yml").write_text(workflow)
    # actionlint finds the project (and so local actions) by its .git directory.
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


USE_ACTIONS = """
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: r
        uses: ./.github/actions/resolve-package
        with:
          package: p@staging
          registry-url: http://registry
          token: t
      - uses: ./.github/actions/report-evaluation
        with:
          package: p@${{ steps.r.outputs.version }}
          suite: s
          results: r.json
          registry-url: http://registry
          token: t
"""


def test_composite_actions_metadata_is_valid_and_checked(tmp_path: Path) -> None:
    # actionlint reads a local action's metadata where a workflow uses it: a clean use has no findings...
    root = _actions_project(tmp_path, USE_ACTIONS)
    assert lint(sorted((root / ".github/workflows").glob("*.yml")), cwd=root) == []
    # ...and a missing required input is caught, so the check above is not vacuous.
    root2 = _actions_project(tmp_path / "2", USE_ACTIONS.replace("          token: t\n", "", 1))
    findings = lint(sorted((root2 / ".github/workflows").glob("*.yml")), cwd=root2)
    assert any("token" in f.message for f in findings), findings
