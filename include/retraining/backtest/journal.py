"""The backtest's own record, one JSON line per finished run and per finished window, appended and
flushed as each completes: a rerun with the same arguments reads it and continues where the last
one stopped; a rerun with other arguments in the same folder is refused."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JOURNAL = "journal.jsonl"
ARGUMENTS = "backtest.json"


class JournalMismatch(ValueError):
    """The output folder holds a backtest of other arguments."""


@dataclass
class Journal:
    """What the backtest has finished: runs by key (`<kind>@<time>`), windows by index."""

    path: Path
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, out: Path, arguments: dict[str, Any]) -> Journal:
        """The folder's journal, after checking it was started with the same arguments."""
        out.mkdir(parents=True, exist_ok=True)
        stored = out / ARGUMENTS
        if stored.exists():
            before = json.loads(stored.read_text())
            if before != arguments:
                raise JournalMismatch(
                    f"{out} holds a backtest of {before}, not {arguments}: "
                    "give another --out, or delete the folder to start over"
                )
        else:
            stored.write_text(json.dumps(arguments, indent=2, sort_keys=True))
        journal = cls(out / JOURNAL)
        journal._read()
        return journal

    def _read(self) -> None:
        if not self.path.exists():
            return
        text = self.path.read_text()
        if not text.endswith("\n"):
            # The half-written last line of a killed run: cut, so the next line starts clean; that run is redone.
            text = text[: text.rfind("\n") + 1]
            self.path.write_text(text)
        for line in text.splitlines():
            entry = json.loads(line)
            if entry.get("record") == "run":
                self.runs[entry["key"]] = entry
            elif entry.get("record") == "window":
                self.windows[int(entry["index"])] = entry

    def add_run(self, key: str, entry: dict[str, Any]) -> dict[str, Any]:
        entry = {"record": "run", "key": key, **entry}
        self._append(entry)
        self.runs[key] = entry
        return entry

    def add_window(self, entry: dict[str, Any]) -> dict[str, Any]:
        entry = {"record": "window", **entry}
        self._append(entry)
        self.windows[int(entry["index"])] = entry
        return entry

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def journal_windows(out: Path) -> list[dict[str, Any]]:
    """The finished windows of the backtest in `out`, in plan order (each with its runs)."""
    journal = Journal(out / JOURNAL)
    journal._read()
    return [journal.windows[i] for i in sorted(journal.windows)]
