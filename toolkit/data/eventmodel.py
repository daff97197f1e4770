"""What a sidecar records about a bag's derived signals and events (plain models, no numpy)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BagEvent(BaseModel):
    kind: str  # see toolkit.data.events.KINDS
    start_ns: int  # both ends inside the event (closed range)
    end_ns: int
    value: float  # SI units; meaning per kind
    topic: str = ""  # health events: the topic; vehicle events: ""
    detail: str = ""  # e.g. the speed band "50-80kmh"


class SignalsInfo(BaseModel):
    file: str = ""  # `<bag>.signals.parquet`, relative to the repo ("" when no known topic had samples)
    rows: int = 0
    period_ns: int = 100_000_000
    sources: dict[str, str] = Field(default_factory=dict)  # column -> topic
    max_speed_mps: float | None = None
    min_speed_mps: float | None = None
    health_topics: int = 0  # topics whose stamps and sizes were read
    warnings: list[str] = Field(default_factory=list)
