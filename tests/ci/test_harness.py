"""The local workflow harness over small real workflows: bash steps, outputs, needs, if:, actions, calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ci.conftest import git
from toolkit.ci import RunOptions, run_workflow
from toolkit.errors import WorkflowError, WorkflowFailedError

PIPELINE = """
name: pipe
on:
  push:
    branches: [main]
  pull_request:
env:
  GREETING: hello
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      runner: ${{ steps.labels.outputs.runner }}
      word: ${{ steps.labels.outputs.word }}
    steps:
      - id: labels
        run: |
          echo 'runner=["self-hosted","gpu"]' >> "$GITHUB_OUTPUT"
          { echo 'word<<EOF'; echo "multi"; echo "line"; echo 'EOF'; } >> "$GITHUB_OUTPUT"
          echo "FROM_ENV_FILE=persisted" >> "$GITHUB_ENV"
      - name: env file applies to later steps
        run: test "$FROM_ENV_FILE" = persisted
  train:
    needs: plan
    runs-on: ${{ fromJSON(needs.plan.outputs.runner) }}
    env:
      STAGE: train
    outputs:
      seen: ${{ steps.show.outputs.seen }}
    steps:
      - id: show
        env:
          WORD: ${{ needs.plan.outputs.word }}
        run: |
          echo "seen=$GREETING/$STAGE/$GITHUB_EVENT_NAME/$GITHUB_REF/${WORD//$'\\n'/+}" >> "$GITHUB_OUTPUT"
          echo "### trained" >> "$GITHUB_STEP_SUMMARY"
          test -d "$RUNNER_TEMP" && test "$GITHUB_WORKSPACE" = "$PWD"
      - name: only on PRs
        if: github.event_name == 'pull_request'
        run: echo "pr step ran" && echo "pr=yes" >> "$GITHUB_OUTPUT"
"""


def test_jobs_run_in_needs_order_with_outputs_env_and_runner_labels(workspace: Path, write) -> None:
    wf = write(".github/workflows/pipe.yml", PIPELINE)
    run = run_workflow(wf, "train", RunOptions(workspace=workspace, log=lambda _: None))
    assert run.ok
    assert list(run.jobs) == ["plan", "train"]
    train = run.jobs["train"]
    assert train.runs_on == ["self-hosted", "gpu"]
    assert train.outputs["seen"] == "hello/train/push/refs/heads/main/multi+line"
    assert train.step("__step2").outcome == "skipped"
    assert "### trained" in train.summary


def test_pull_request_event_runs_conditional_steps(workspace: Path, write) -> None:
    wf = write(".github/workflows/pipe.yml", PIPELINE)
    run = run_workflow(wf, None, RunOptions(workspace=workspace, event="pull_request", log=lambda _: None))
    assert run.jobs["train"].steps[1].outcome == "success"
    assert "pr step ran" in run.jobs["train"].log
    assert run.jobs["train"].outputs["seen"].endswith("/pull_request/refs/pull/1/merge/multi+line")


def test_failed_step_gives_one_line_reason_runs_failure_steps_and_skips_dependents(workspace: Path, write) -> None:
    wf = write(
        ".github/workflows/f.yml",
        """
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - name: verify
                run: |
                  echo "checking manifest"
                  echo "::error::tag bad@tag does not match NAME@VERSION"
                  exit 3
              - name: never
                run: echo never
              - name: cleanup
                if: failure()
                run: echo cleaned
              - name: tolerated
                if: always()
                continue-on-error: true
                run: exit 1
          b:
            needs: a
            runs-on: ubuntu-latest
            steps:
              - run: echo should not run
          c:
            needs: a
            if: always()
            runs-on: ubuntu-latest
            steps:
              - run: echo "a was ${{ needs.a.result }}"
        """,
    )
    run = run_workflow(wf, None, RunOptions(workspace=workspace, log=lambda _: None))
    assert not run.ok
    a = run.jobs["a"]
    assert a.result == "failure"
    assert a.error == "step 'verify' failed (exit 3): tag bad@tag does not match NAME@VERSION"
    assert [s.outcome for s in a.steps] == ["failure", "skipped", "success", "failure"]
    assert a.steps[3].conclusion == "success"
    assert run.jobs["b"].result == "skipped"
    assert "a was failure" in run.jobs["c"].log
    with pytest.raises(WorkflowFailedError, match="job 'a': step 'verify' failed"):
        run.raise_for_failure()


def test_local_composite_action_and_reusable_workflow(workspace: Path, write) -> None:
    write(
        ".github/actions/greet/action.yml",
        """
        name: greet
        inputs:
          who:
            required: true
          punct:
            default: "!"
        outputs:
          line:
            value: ${{ steps.say.outputs.line }}
        runs:
          using: composite
          steps:
            - id: say
              shell: bash
              run: |
                test -f "$GITHUB_ACTION_PATH/action.yml"
                echo "line=hello ${{ inputs.who }}${{ inputs.punct }}" >> "$GITHUB_OUTPUT"
        """,
    )
    write(
        ".github/workflows/reusable.yml",
        """
        on:
          workflow_call:
            inputs:
              who:
                type: string
                required: true
              loud:
                type: boolean
                default: false
            secrets:
              TOKEN:
                required: true
            outputs:
              line:
                value: ${{ jobs.inner.outputs.line }}
        jobs:
          inner:
            runs-on: ubuntu-latest
            outputs:
              line: ${{ steps.g.outputs.line }}
            steps:
              - uses: actions/checkout@v4
              - id: g
                uses: ./.github/actions/greet
                with:
                  who: ${{ inputs.who }}${{ inputs.loud && ' LOUD' || '' }}
              - run: test "$TOKEN" = "t0k"
                env:
                  TOKEN: ${{ secrets.TOKEN }}
        """,
    )
    wf = write(
        ".github/workflows/caller.yml",
        """
        on: push
        jobs:
          call:
            uses: ./.github/workflows/reusable.yml
            with:
              who: world
              loud: true
            secrets: inherit
          after:
            needs: call
            runs-on: ubuntu-latest
            steps:
              - run: echo "got ${{ needs.call.outputs.line }} token=${{ secrets.TOKEN }}"
        """,
    )
    lines: list[str] = []
    run = run_workflow(wf, "after", RunOptions(workspace=workspace, secrets={"TOKEN": "t0k"}, log=lines.append))
    assert run.ok, run.failure
    assert run.jobs["call"].outputs == {"line": "hello world LOUD!"}
    assert "call/inner" in run.jobs
    # Secrets never reach the log in clear.
    assert "got hello world LOUD! token=***" in lines
    assert not any("t0k" in line for line in lines)


def test_remote_uses_resolve_through_repo_map_and_unknown_actions_fail_clearly(workspace: Path, write, tmp_path):
    other = tmp_path / "pitlane-checkout"
    (other / ".github/actions/hello").mkdir(parents=True)
    (other / ".github/actions/hello/action.yml").write_text(
        "name: hello\noutputs:\n  v:\n    value: ${{ steps.s.outputs.v }}\nruns:\n  using: composite\n  steps:\n"
        "    - id: s\n      shell: bash\n      run: echo v=mapped >> $GITHUB_OUTPUT\n"
    )
    wf = write(
        ".github/workflows/w.yml",
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            outputs:
              v: ${{ steps.h.outputs.v }}
            steps:
              - uses: actions/setup-python@v5
                with:
                  python-version: "3.11"
              - id: h
                uses: acme/pitlane/.github/actions/hello@v1
        """,
    )
    run = run_workflow(wf, "j", RunOptions(workspace=workspace, repos={"acme/pitlane": other}, log=lambda _: None))
    assert run.jobs["j"].outputs == {"v": "mapped"}
    with pytest.raises(WorkflowError, match=r"external actions do not run locally.*--repo acme/pitlane=PATH"):
        run_workflow(wf, "j", RunOptions(workspace=workspace, log=lambda _: None))


def test_tag_event_sets_ref_and_sha_and_respects_tag_filters(workspace: Path, write) -> None:
    wf = write(
        ".github/workflows/rel.yml",
        """
        on:
          push:
            tags: ["*@*"]
        jobs:
          rel:
            runs-on: ubuntu-latest
            outputs:
              info: ${{ steps.i.outputs.info }}
            steps:
              - id: i
                run: echo "info=$GITHUB_REF|$GITHUB_REF_NAME|$GITHUB_SHA|${{ github.ref_type }}" >> "$GITHUB_OUTPUT"
        """,
    )
    git(workspace, "tag", "-a", "model@v1.0.0", "-m", "release")
    sha = git(workspace, "rev-parse", "HEAD")
    run = run_workflow(wf, "rel", RunOptions(workspace=workspace, event="tag", ref="model@v1.0.0", log=lambda _: None))
    assert run.jobs["rel"].outputs["info"] == f"refs/tags/model@v1.0.0|model@v1.0.0|{sha}|tag"
    with pytest.raises(WorkflowError, match="does not run on push"):
        run_workflow(wf, "rel", RunOptions(workspace=workspace, log=lambda _: None))
    with pytest.raises(WorkflowError, match="tag 'nope@v9' does not exist"):
        run_workflow(wf, "rel", RunOptions(workspace=workspace, event="tag", ref="nope@v9", log=lambda _: None))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("on: push\njobs: {}\n", "needs a 'jobs' mapping"),
        ("on: push\njobs:\n  a:\n    runs-on: x\n    needs: b\n    steps: []\n", "needs unknown job 'b'"),
        ("on: push\njobs:\n  a: [\n", "invalid YAML"),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ nosuch.x }}\n",
            "unknown context 'nosuch'",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        v: [1]\n    steps: []\n",
            "matrix jobs are not supported",
        ),
    ],
)
def test_bad_workflows_fail_with_one_line(workspace: Path, write, text: str, message: str) -> None:
    wf = write(".github/workflows/bad.yml", text)
    with pytest.raises(WorkflowError, match=message) as info:
        run_workflow(wf, None, RunOptions(workspace=workspace, log=lambda _: None))
    assert "\n" not in str(info.value)


def test_step_timeout_kills_the_step(workspace: Path, write) -> None:
    wf = write(
        ".github/workflows/t.yml",
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - name: slow\n        timeout-minutes: 0.01\n"
        "        run: sleep 30\n",
    )
    run = run_workflow(wf, None, RunOptions(workspace=workspace, log=lambda _: None))
    assert run.jobs["a"].error is not None and "timed out" in run.jobs["a"].error
