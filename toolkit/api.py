"""The public Python API of Pitlane.

The CLI and the pipelines call these names; each re-export lives in the
module that owns its logic. Import lazily-heavy parts (torch, dvc) only
inside the functions that need them.
"""

from __future__ import annotations

from toolkit.bags import (
    BagSummary,
    decode,
    detect_format,
    index,
    parse_time_bound,
    read_lineage,
    read_messages,
    slice_bag,
)
from toolkit.ci import RunOptions, WorkflowRun, run_workflow
from toolkit.ci import lint as lint_workflows
from toolkit.ci.notify import notify_registry
from toolkit.ci.plan import stage_plan
from toolkit.ci.verify import VerifiedRelease, verify_release
from toolkit.client import RegistryClient, connect
from toolkit.config import Settings, get_settings
from toolkit.data.api import (
    add_bags,
    init_repo,
    lineage_chain,
    open_repo,
    reindex,
    remove_bags,
    search,
    slice_catalogued,
    slice_search,
    tag_bag,
)
from toolkit.data.timeline import message_timeline
from toolkit.datasets.annotations import export_annotations, import_annotations
from toolkit.datasets.autolabel import autolabel
from toolkit.datasets.create import bags_from_search, create_dataset
from toolkit.datasets.labelstudio_live import pull as labelstudio_pull
from toolkit.datasets.labelstudio_live import push as labelstudio_push
from toolkit.datasets.loader import FrameDataset
from toolkit.datasets.report import diff as diff_datasets
from toolkit.datasets.report import list_datasets
from toolkit.datasets.report import stats as dataset_stats
from toolkit.datasets.versions import resolve_ref as resolve_dataset
from toolkit.datasets.versions import version_dataset
from toolkit.experiment.compose import compose
from toolkit.experiment.record import list_runs, show_run
from toolkit.experiment.runner import RunResult, run
from toolkit.experiment.scaffold import init_experiment
from toolkit.release.grammar import parse_tag
from toolkit.release.links import (
    add_evaluation,
    add_firmware,
    list_deployments,
    list_evaluations,
    list_firmware,
    record_deployment,
    register_remote,
    sync_remote,
    trace,
)
from toolkit.release.manifest import PackageManifest
from toolkit.release.release import ReleaseResult, assign_channel, release

__all__ = [
    "BagSummary",
    "FrameDataset",
    "PackageManifest",
    "RegistryClient",
    "ReleaseResult",
    "RunOptions",
    "RunResult",
    "Settings",
    "VerifiedRelease",
    "WorkflowRun",
    "add_bags",
    "add_evaluation",
    "add_firmware",
    "assign_channel",
    "autolabel",
    "bags_from_search",
    "compose",
    "connect",
    "create_dataset",
    "dataset_stats",
    "decode",
    "detect_format",
    "diff_datasets",
    "export_annotations",
    "get_settings",
    "import_annotations",
    "index",
    "init_experiment",
    "init_repo",
    "labelstudio_pull",
    "labelstudio_push",
    "lineage_chain",
    "lint_workflows",
    "list_datasets",
    "list_deployments",
    "list_evaluations",
    "list_firmware",
    "list_runs",
    "message_timeline",
    "notify_registry",
    "open_repo",
    "parse_tag",
    "parse_time_bound",
    "read_lineage",
    "read_messages",
    "record_deployment",
    "register_remote",
    "reindex",
    "release",
    "remove_bags",
    "resolve_dataset",
    "run",
    "run_workflow",
    "search",
    "show_run",
    "slice_bag",
    "slice_catalogued",
    "slice_search",
    "stage_plan",
    "sync_remote",
    "tag_bag",
    "trace",
    "verify_release",
    "version_dataset",
]
