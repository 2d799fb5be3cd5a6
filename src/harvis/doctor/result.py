"""What a check reports, and how a list of reports is shown (table or JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but worth a look (slow disk, a model not loaded yet)
    FAIL = "fail"  # broken: doctor exits non-zero
    SKIP = "skip"  # not applicable here (no kubectl, no GPU tools)


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""  # the command or change to try, for WARN and FAIL
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, name: str, detail: str, **data: Any) -> Check:
        return cls(name, Status.OK, detail, data=data)

    @classmethod
    def warn(cls, name: str, detail: str, fix: str = "", **data: Any) -> Check:
        return cls(name, Status.WARN, detail, fix, data)

    @classmethod
    def fail(cls, name: str, detail: str, fix: str = "", **data: Any) -> Check:
        return cls(name, Status.FAIL, detail, fix, data)

    @classmethod
    def skip(cls, name: str, detail: str) -> Check:
        return cls(name, Status.SKIP, detail)


def failed(checks: list[Check]) -> bool:
    return any(c.status is Status.FAIL for c in checks)


def to_json(checks: list[Check]) -> str:
    body = {"ok": not failed(checks), "checks": [{**asdict(c), "status": str(c.status)} for c in checks]}
    return json.dumps(body, indent=2, default=str)


_MARK = {Status.OK: "ok", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "skip"}


def to_table(checks: list[Check], width: int = 100) -> str:
    name_w = max([len("CHECK"), *(len(c.name) for c in checks)])
    lines = [f"{'CHECK':<{name_w}}  STATUS  DETAIL"]
    for c in checks:
        detail = c.detail if len(c.detail) <= width else c.detail[: width - 1] + "…"
        lines.append(f"{c.name:<{name_w}}  {_MARK[c.status]:<6}  {detail}")
    fixes = [c for c in checks if c.fix and c.status in (Status.FAIL, Status.WARN)]
    if fixes:
        lines += ["", "What to try:"]
        for c in fixes:
            lines.append(f"  {c.name} ({_MARK[c.status]}): {c.detail}")
            lines += [f"      {line}" for line in c.fix.splitlines()]
    counts = {s: sum(1 for c in checks if c.status is s) for s in Status}
    lines += ["", ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no checks ran"]
    return "\n".join(lines)
