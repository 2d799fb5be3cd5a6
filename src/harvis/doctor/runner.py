"""Run the chosen check groups concurrently; a crashing check is reported, never fatal."""

from __future__ import annotations

import asyncio
import importlib

from harvis.doctor.context import Context
from harvis.doctor.result import Check

MODULES = {
    "router": "harvis.doctor.router",
    "ollama": "harvis.doctor.ollama",
    "backend": "harvis.doctor.backend",
    "database": "harvis.doctor.database",
    "speech": "harvis.doctor.speech",
    "cache": "harvis.doctor.cache",
    "dns": "harvis.doctor.dns",
    "gpu": "harvis.doctor.gpu",
    "kube": "harvis.doctor.kube",
}
# No group may hold the command up for longer than this many network timeouts.
GROUP_BUDGET = 6


async def _one(group: str, ctx: Context) -> list[Check]:
    module = importlib.import_module(MODULES[group])
    try:
        return list(await asyncio.wait_for(module.run(ctx), ctx.timeout_s * GROUP_BUDGET))
    except TimeoutError:
        return [
            Check.fail(
                group,
                f"did not finish within {ctx.timeout_s * GROUP_BUDGET:.0f}s",
                "run it alone with --only and a larger --timeout",
            )
        ]
    except Exception as exc:  # a bug in one check must not hide the others' results
        return [
            Check.fail(
                group,
                f"the check crashed: {type(exc).__name__}: {exc}"[:300],
                "please report this with the output of harvis doctor --json",
            )
        ]


async def run_groups(ctx: Context, groups: list[str]) -> list[Check]:
    results = await asyncio.gather(*(_one(g, ctx) for g in groups))
    return [c for checks in results for c in checks]
