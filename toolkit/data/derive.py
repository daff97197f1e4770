"""Derived signals and events of one bag, as ingest and `reindex --events` compute them.

`derive` reads the bag once (toolkit.bags.signals), writes `<bag>.signals.parquet` and
returns what the sidecar records; `rederive_from_series` recomputes the vehicle events
from the Parquet file alone (for bags that are not in the working tree).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.bags.signals import extract, resample
from toolkit.bags.summary import BagSummary
from toolkit.data.eventmodel import BagEvent, SignalsInfo
from toolkit.data.events import HEALTH_KINDS, EventsConfig, capped, health_events, load_config, vehicle_events
from toolkit.data.repo import DataRepo
from toolkit.data.sidecar import Sidecar, sidecar_path, write_sidecar
from toolkit.data.signalfile import read_series, signals_path, write_series
from toolkit.errors import BagError


def _speed_range(speed: np.ndarray) -> tuple[float | None, float | None]:
    known = speed[~np.isnan(speed)]
    if len(known) == 0:
        return None, None
    return float(known.max()), float(known.min())


def derive(bag: Path, summary: BagSummary, cfg: EventsConfig, rel_file: str) -> tuple[SignalsInfo, list[BagEvent]]:
    """Signals + events of `bag`; writes the Parquet series when a known topic had samples.

    A bag whose messages cannot be read gets no events and a warning, never a failed ingest:
    its index is still good.
    """
    out = signals_path(bag)
    if summary.message_count == 0:
        out.unlink(missing_ok=True)
        return SignalsInfo(), []
    try:
        extraction = extract(bag, {t.name: t.count for t in summary.topics})
    except BagError as exc:
        out.unlink(missing_ok=True)
        return SignalsInfo(warnings=[f"signals unavailable: {exc}"]), []
    except Exception as exc:  # a reader library choking mid-file: the bag's index is still good
        out.unlink(missing_ok=True)
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return SignalsInfo(warnings=[f"signals unavailable: cannot read messages ({reason})"]), []
    series = resample(extraction, cfg.period_ns)
    events = health_events(extraction, cfg)
    info = SignalsInfo(
        period_ns=series.period_ns, health_topics=len(extraction.topics), warnings=extraction.warnings[:20]
    )
    if len(series):
        write_series(out, series)
        events.extend(vehicle_events(series, cfg))
        hi, lo = _speed_range(series.columns["speed_mps"])
        info = info.model_copy(
            update={
                "file": rel_file,
                "rows": len(series),
                "sources": {k: v for k, v in series.sources.items() if v},
                "max_speed_mps": hi,
                "min_speed_mps": lo,
            }
        )
    else:
        out.unlink(missing_ok=True)
    return info, capped(events)


def rederive_from_series(
    bag: Path, info: SignalsInfo, old: list[BagEvent], cfg: EventsConfig
) -> tuple[SignalsInfo, list[BagEvent]]:
    """Vehicle events from the Parquet series with new thresholds; health events are kept as they were."""
    kept = [ev for ev in old if ev.kind in HEALTH_KINDS]
    path = signals_path(bag)
    if not info.file or not path.exists():
        return info, kept
    series = read_series(path)
    return info, capped(kept + vehicle_events(series, cfg))


def attach(repo: DataRepo, bag: Path, sc: Sidecar, cfg: EventsConfig) -> Sidecar:
    """`sc` with the bag's derived signals and events (and its Parquet series written)."""
    info, events = derive(bag, sc.summary, cfg, repo.rel(signals_path(bag)))
    return sc.model_copy(update={"signals": info, "events": events})


@dataclass
class ReindexReport:
    from_bags: int = 0  # signals and every event recomputed from the bag
    from_series: int = 0  # bag not in the working tree: vehicle events from the Parquet series
    commit: str | None = None


def reindex_events(repo: DataRepo, cfg: EventsConfig | None = None) -> ReindexReport:
    """Recompute signals and events of every catalogued bag with the current thresholds; one commit."""
    from toolkit.data.ingest import commit_paths

    cfg = cfg or load_config(repo.root)
    report = ReindexReport()
    changed: list[Path] = []
    for sc in repo.sidecars():
        bag = repo.abs_path(sc.path)
        if bag.exists():
            new = attach(repo, bag, sc, cfg)
            report.from_bags += 1
        else:
            info, events = rederive_from_series(bag, sc.signals or SignalsInfo(), sc.events, cfg)
            new = sc.model_copy(update={"signals": info, "events": events})
            report.from_series += 1
        if new != sc:
            write_sidecar(sidecar_path(bag), new)
            changed.extend([sidecar_path(bag), signals_path(bag)])
    if changed:
        report.commit = commit_paths(repo, changed, "data: recompute events")
    repo.catalog.rebuild(repo.sidecars())
    return report
