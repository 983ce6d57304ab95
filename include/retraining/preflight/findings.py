"""What a check found, and how a report of findings is printed for a person or for CI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"  # works, but costs something or will surprise someone
    PROBLEM = "problem"  # a run would fail, or do the wrong thing, until it is fixed


@dataclass(frozen=True)
class Finding:
    subject: str  # the model's name, or the file that yields no model
    check: str
    status: Status
    message: str


def render_text(findings: Sequence[Finding]) -> str:
    width = max((len(f.subject) for f in findings), default=0)
    lines = [f"{f.status.value:<8}{f.subject:<{width}}  {f.check:<11} {f.message}" for f in findings]
    problems = sum(f.status is Status.PROBLEM for f in findings)
    warnings = sum(f.status is Status.WARNING for f in findings)
    lines.append(f"{problems} problem(s), {warnings} warning(s)")
    return "\n".join(lines)


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps([{**asdict(f), "status": f.status.value} for f in findings], indent=2)
