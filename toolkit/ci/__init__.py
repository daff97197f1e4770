"""CI/CD: the local workflow harness (`pitlane ci run`) and actionlint (`pitlane ci lint`)."""

from __future__ import annotations

from toolkit.ci.context import RunOptions
from toolkit.ci.lint import Finding, lint
from toolkit.ci.runner import JobResult, StepResult, WorkflowRun, run_workflow

__all__ = ["Finding", "JobResult", "RunOptions", "StepResult", "WorkflowRun", "lint", "run_workflow"]
