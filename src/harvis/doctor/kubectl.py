"""A small async wrapper over the `kubectl` command (bounded in time, JSON out)."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any


class KubectlError(RuntimeError):
    pass


class Kubectl:
    def __init__(self, namespace: str, context: str | None = None, timeout_s: float = 10.0) -> None:
        self.path = shutil.which("kubectl")
        self.namespace = namespace
        self.context = context
        self.timeout_s = timeout_s

    def _base(self) -> list[str]:
        if self.path is None:
            raise KubectlError("kubectl is not installed")
        base = [self.path, f"--request-timeout={int(self.timeout_s)}s"]
        return base + ([f"--context={self.context}"] if self.context else [])

    async def text(self, *args: str, namespaced: bool = True) -> str:
        cmd = self._base() + (["-n", self.namespace] if namespaced else []) + list(args)
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout_s + 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise KubectlError(f"kubectl {' '.join(args)}: no answer in {self.timeout_s + 5:.0f}s") from None
        if proc.returncode != 0:
            # kubectl prints retries as log lines first; its verdict is the last line.
            lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
            raise KubectlError(lines[-1][:500] if lines else f"exit {proc.returncode}")
        return out.decode(errors="replace")

    async def json(self, *args: str, namespaced: bool = True) -> Any:
        return json.loads(await self.text(*args, "-o", "json", namespaced=namespaced))

    async def items(self, kind: str, *args: str, namespaced: bool = True) -> list[dict[str, Any]]:
        return list((await self.json("get", kind, *args, namespaced=namespaced)).get("items") or [])
