"""The per-request cap on cells (rows x columns, as sent) and columns.

Work and memory grow with cells, and a wide CSV costs pandas time per column, so both are capped.
A CSV body is measured before pandas sees it: columns from the header line, rows from the line
count (exact when no field is quoted, since a quoted field may hold a newline), so an oversized
body is refused without building its frame. Every frame is checked again once built.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import TYPE_CHECKING

from drcompat.errors import PayloadTooLarge

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class CellLimits:
    max_cells: int
    max_columns: int

    def check(self, rows: int, columns: int) -> None:
        """413 naming the limit when ``rows`` x ``columns`` is over it."""
        if columns > self.max_columns:
            raise PayloadTooLarge(
                f"The request has {columns} columns; the limit is {self.max_columns} columns per request."
            )
        if rows * columns > self.max_cells:
            most = max(1, self.max_cells // max(columns, 1))
            raise PayloadTooLarge(
                f"The request has {rows} rows x {columns} columns = {rows * columns} cells; the limit is "
                f"{self.max_cells} cells per request (at most {most} rows of {columns} columns): "
                "split it into smaller requests."
            )

    def check_csv(self, data: bytes, charset: str) -> None:
        """Refuse an oversized CSV body from its header and line count, before parsing it."""
        end = data.find(b"\n")
        header = data if end < 0 else data[:end]
        if header.count(b'"') % 2:
            return  # a quoted newline inside the header: the frame check decides
        try:
            names = next(csv.reader([header.decode(charset).rstrip("\r")]), [])
        except (UnicodeDecodeError, LookupError, csv.Error):
            return  # not an ASCII-compatible header: the frame check decides
        columns = len(names)
        if columns > self.max_columns:
            self.check(1, columns)
        if b'"' in data or columns * max(data.count(b"\n"), 1) <= self.max_cells:
            return  # quoted fields may hold newlines: only the frame check is exact
        blank = data.count(b"\n\n") + data.count(b"\n\r\n") + (1 if data.startswith((b"\n", b"\r\n")) else 0)
        rows = data.count(b"\n") - blank - 1 + (0 if data.endswith(b"\n") else 1)
        self.check(rows, columns)

    def check_frame(self, frame: pd.DataFrame) -> None:
        self.check(len(frame), len(frame.columns))
