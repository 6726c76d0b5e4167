"""The output files of a screen, each written chunk by chunk and moved into place only when
complete (:func:`scifm.utils.io.atomic_path`).

* :class:`ParquetSink` — every scored row (``--all-scores``), one row group per chunk
  (:class:`pyarrow.parquet.ParquetWriter`; the first chunk fixes the schema);
* :class:`RejectsSink` — ``row_id, input, reason`` of every row not scored (invalid inputs and
  duplicates), as CSV;
* :func:`write_table` — the hits (Parquet, or CSV when the name ends in ``.csv``).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import pandas as pd

from scifm.utils.io import atomic_path

__all__ = ["ParquetSink", "RejectsSink", "write_table"]


class ParquetSink:
    """A Parquet file written one frame at a time (a context manager; None path: no file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stack = ExitStack()
        self._writer = None
        self._schema = None
        self.n_rows = 0

    def __enter__(self) -> ParquetSink:
        if self.path is not None:
            self._tmp = self._stack.enter_context(atomic_path(self.path))
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (same columns as the first one)."""
        if self.path is None or (frame.empty and self._writer is not None):
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            schema = pa.Schema.from_pandas(frame, preserve_index=False)
            for i, f in enumerate(schema):  # a column with no value in this chunk: text
                if pa.types.is_null(f.type):
                    schema = schema.set(i, pa.field(f.name, pa.string()))
            self._schema = schema
            self._writer = pq.ParquetWriter(self._tmp, schema)
        table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        self._writer.write_table(table)
        self.n_rows += len(frame)

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._writer is not None:
            self._writer.close()
        elif self.path is not None and kind is None:
            pd.DataFrame({"row_id": pd.Series([], dtype="int64")}).to_parquet(self._tmp)
        self._stack.__exit__(kind, err, tb)


class RejectsSink:
    """``row_id, input, reason`` rows appended to a CSV (a context manager)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stack = ExitStack()
        self.n_rows = 0

    def __enter__(self) -> RejectsSink:
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        self._tmp.write_text("row_id,input,reason\n", encoding="utf-8")
        return self

    def write(self, rows: pd.DataFrame) -> None:
        """Append rows with ``row_id``, ``input`` and ``reason`` columns."""
        if rows.empty:
            return
        rows[["row_id", "input", "reason"]].to_csv(self._tmp, mode="a", header=False,
                                                   index=False, errors="backslashreplace")
        self.n_rows += len(rows)

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.__exit__(kind, err, tb)


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` to ``path`` atomically: CSV for a ``.csv`` name, else Parquet."""
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False, errors="backslashreplace")
        else:
            frame.to_parquet(tmp, index=False)
