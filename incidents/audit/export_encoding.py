"""Encoding export rows as CSV or JSON Lines, in ~64 KB chunks.

Rows arrive as plain tuples (from `values_list`), already in column order. The encoders only
touch the columns whose type needs it (timestamps, raw JSON text, free text), because at a
million rows every per-cell function call costs seconds.
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

# Large enough that a million-row export is a few thousand writes, small enough that nothing
# sizeable is ever held in memory. One row per chunk made a measured export 3x slower.
CHUNK_CHARS = 64 * 1024

# A spreadsheet runs a cell that starts with one of these as a formula. Alert summaries and
# object representations come from outside tools, so an attacker could plant one (OWASP "CSV
# injection"); the CSV gets a leading quote on such text cells. JSON Lines stays lossless.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

ColumnType = Literal["value", "text", "datetime", "json"]

# One encoder for every line: json.dumps() with non-default options builds a new encoder per
# call, which measured as a tenth of a million-row export.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class Column:
    """One column of an export.

    `text`: free text that may come from outside (escaped against formulas in CSV);
    `datetime`: an aware datetime, written as ISO 8601 in UTC with microseconds;
    `json`: JSON already serialised by the database (written as is: embedded in JSON Lines,
    a cell in CSV); `value`: anything else.
    """

    name: str
    type: ColumnType = "value"


class RowCounter:
    """Counts rows as they pass, so the count is known when the stream ends."""

    def __init__(self) -> None:
        self.rows = 0

    def count(self, rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
        for row in rows:
            self.rows += 1
            yield row


def _indexes(columns: Sequence[Column], *types: ColumnType) -> list[int]:
    return [i for i, column in enumerate(columns) if column.type in types]


def _isoformat(value: Any) -> Any:
    # Strings were formatted by the database already (see export_rows.IsoTimestamp).
    if value is None or isinstance(value, str):
        return value
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _defuse_formula(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_chunks(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """A header line, then one line per row (RFC 4180: CRLF, quotes doubled), in chunks.

    None becomes an empty cell; JSON columns hold their JSON text.
    """
    dates = _indexes(columns, "datetime")
    texts = _indexes(columns, "text")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column.name for column in columns])
    for row in rows:
        if dates or texts:
            cells = list(row)
            for i in dates:
                cells[i] = _isoformat(cells[i])
            for i in texts:
                cells[i] = _defuse_formula(cells[i])
            row = cells
        writer.writerow(row)
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def jsonl_chunks(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """One JSON object per line: the scalar columns in column order, then the JSON columns,
    embedded as JSON values.

    The scalar columns go through one `json.dumps` of a dict per row (C speed); the JSON
    columns are spliced in as the text the database already holds, never parsed and re-dumped.
    """
    names = [column.name for column in columns]
    dates = _indexes(columns, "datetime")
    raw = set(_indexes(columns, "json"))
    scalar_at = [i for i in range(len(columns)) if i not in raw]
    scalar_names = [names[i] for i in scalar_at]
    raw_keys = [(i, "," + json.dumps(names[i]) + ":") for i in sorted(raw)]
    parts: list[str] = []
    size = 0
    for row in rows:
        line = _jsonl_line(row, dates, scalar_at, scalar_names, raw_keys)
        parts.append(line)
        size += len(line)
        if size >= CHUNK_CHARS:
            yield "".join(parts)
            parts, size = [], 0
    yield "".join(parts)


def _jsonl_line(
    row: Sequence[Any],
    dates: list[int],
    scalar_at: list[int],
    scalar_names: list[str],
    raw_keys: list[tuple[int, str]],
) -> str:
    if dates:
        row = list(row)
        for i in dates:
            row[i] = _isoformat(row[i])
    scalars = _encode_json(dict(zip(scalar_names, [row[i] for i in scalar_at], strict=True)))
    if not raw_keys:
        return scalars + "\n"
    spliced = [scalars[:-1]]
    for i, key in raw_keys:
        value = row[i]
        spliced.append(key + (value if value is not None else "null"))
    if scalars == "{}":
        spliced[1] = spliced[1][1:]  # no scalar before the first JSON column: drop its comma
    return "".join(spliced) + "}\n"


def encoded_chunks(
    export_format: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]]
) -> Iterator[bytes]:
    """UTF-8 chunks of ~64 KB of the rows in `export_format` ("csv" or "jsonl")."""
    chunks = csv_chunks(columns, rows) if export_format == "csv" else jsonl_chunks(columns, rows)
    for chunk in chunks:
        if chunk:
            yield chunk.encode()
