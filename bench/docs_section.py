"""Write one `## ` section of a results page (docs/benchmarks.md, docs/decisions.md) in place,
so each bench replaces its own section and leaves the others' alone."""

from __future__ import annotations

import re
from pathlib import Path


def write_section(path: Path, heading: str, section: str, title: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else f"# {title}\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
