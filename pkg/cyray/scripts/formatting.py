"""Output of the `cyray` state commands: aligned plain-text tables (cells may span lines),
JSON and YAML."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Dict, List, Optional, Sequence

FORMATS = ("default", "json", "yaml", "table")


def cell(value: Any) -> str:
    """A value as table text: nothing for None, dicts and lists as YAML lines."""
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        if not value:
            return "{}" if isinstance(value, dict) else "[]"
        return to_yaml(value, explicit_start=False).rstrip("\n")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], index: bool = False,
          gap: str = "  ") -> str:
    """Columns as wide as their widest line; numbers to the right, the rest to the left.
    A cell with several lines makes its row that many lines high."""
    headers = list(headers)
    numeric = [True] * len(headers)
    texts = []
    for number, row in enumerate(rows):
        cells = []
        for col, value in enumerate(row):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                numeric[col] = numeric[col] and value is None
            cells.append(cell(value).split("\n"))
        if index:
            cells.insert(0, [str(number)])
        texts.append(cells)
    if index:
        headers.insert(0, "")
        numeric.insert(0, True)
    if not rows:
        numeric = [False] * len(headers)
    widths = [len(h) for h in headers]
    for cells in texts:
        for col, lines in enumerate(cells):
            widths[col] = max([widths[col]] + [len(line) for line in lines])

    def line(values):
        return gap.join(v.rjust(w) if right else v.ljust(w)
                        for v, w, right in zip(values, widths, numeric)).rstrip()

    out = [line(headers)]
    for cells in texts:
        for i in range(max(len(lines) for lines in cells)):
            out.append(line([lines[i] if i < len(lines) else "" for lines in cells]))
    return "\n".join(out)


def to_json(data: Any) -> str:
    return json.dumps(data, default=str)


def to_yaml(data: Any, explicit_start: bool = True) -> str:
    import yaml

    return yaml.safe_dump(data, indent=4 if explicit_start else 2, sort_keys=False,
                          explicit_start=explicit_start, default_flow_style=False)


def banner(title: str) -> str:
    return "=" * 8 + f" {title}: {datetime.now()} " + "=" * 8


def rows_output(rows: List[Dict[str, Any]], columns: List[str], fmt: str,
                title: str = "List", total: Optional[int] = None) -> str:
    """A list of state rows as Ray's `ray list` prints them: a table with a header and
    the count, or the rows as JSON / YAML."""
    rows = [{key: row.get(key) for key in columns} for row in rows]
    if fmt == "json":
        return to_json(rows)
    if fmt == "yaml":
        return to_yaml(rows)
    grid = table([c.upper() for c in columns], [[row[c] for c in columns] for row in rows],
                 index=True)
    return (f"\n{banner(title)}\nStats:\n{'-' * 30}\nTotal: "
            f"{len(rows) if total is None else total}\n\nTable:\n{'-' * 30}\n{grid}\n")


def size_text(num_bytes: int, unit: str = "B") -> str:
    """A size in the unit of `cyray memory --units` (decimal, as Ray's)."""
    if num_bytes is None or num_bytes < 0:
        return "?"
    scale = {"B": 1, "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9}[unit]
    if unit == "B":
        return f"{num_bytes} B"
    return f"{num_bytes / scale:.3f} {unit}"


def mib(num_bytes: int) -> str:
    return f"{num_bytes / 2 ** 20:.2f} MiB"
