"""`<bag>.signals.parquet`: the derived series of a bag, committed to Git next to its sidecar.

Columns ``t_ns`` (int64) and the float64 signals of ``toolkit.bags.signals.COLUMNS``
(NaN where unknown); the file's key-value metadata holds the period and the source
topic of each column, so the series can be re-read without the bag.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from toolkit.bags.signals import COLUMNS, Series
from toolkit.errors import DataRepoError

SIGNALS_SUFFIX = ".signals.parquet"


def signals_path(bag: Path) -> Path:
    return bag.parent / (bag.name + SIGNALS_SUFFIX)


def write_series(path: Path, series: Series) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = [pa.array(series.t_ns, type=pa.int64())] + [
        pa.array(series.columns[c], type=pa.float64()) for c in COLUMNS
    ]
    meta = {"period_ns": series.period_ns, "sources": series.sources, "accel_from": series.accel_from}
    table = pa.Table.from_arrays(arrays, names=["t_ns", *COLUMNS]).replace_schema_metadata(
        {b"pitlane": json.dumps(meta, sort_keys=True).encode()}
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Fixed writer settings so the same series always gives the same bytes (Git diffs stay quiet).
    pq.write_table(table, tmp, compression="zstd", use_dictionary=False, write_statistics=False)
    tmp.replace(path)


def read_series(path: Path) -> Series:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(b"pitlane", b"{}"))
    except (OSError, ValueError) as exc:
        raise DataRepoError(f"{path}: unreadable signals file ({str(exc).splitlines()[0]})") from None
    columns = {
        c: (
            table.column(c).to_numpy().astype(np.float64)
            if c in table.column_names
            else np.full(table.num_rows, np.nan)
        )
        for c in COLUMNS
    }
    return Series(
        period_ns=int(meta.get("period_ns", 100_000_000)),
        t_ns=table.column("t_ns").to_numpy().astype(np.int64),
        columns=columns,
        sources=dict(meta.get("sources", {})),
        accel_from=str(meta.get("accel_from", "")),
    )
