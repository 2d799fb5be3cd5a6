"""GPUs, when present (nvidia-smi), and whether the speech settings expect one."""

from __future__ import annotations

import asyncio
import shutil

from harvis.doctor.context import Context
from harvis.doctor.result import Check

QUERY = "--query-gpu=index,name,memory.used,memory.total,utilization.gpu"


async def run(ctx: Context) -> list[Check]:
    wants_gpu = ctx.settings.speech.device == "cuda"
    smi = shutil.which("nvidia-smi")
    if smi is None:
        if wants_gpu:
            return [
                Check.fail(
                    "gpu",
                    "HARVIS_SPEECH__DEVICE=cuda but nvidia-smi is not here",
                    "in Kubernetes: request nvidia.com/gpu and check the NVIDIA device plugin "
                    "(kubectl describe node | grep nvidia.com/gpu);\n"
                    "or set HARVIS_SPEECH__DEVICE=cpu",
                )
            ]
        return [Check.skip("gpu", "no nvidia-smi (CPU only)")]
    proc = await asyncio.create_subprocess_exec(
        smi,
        QUERY,
        "--format=csv,noheader,nounits",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), ctx.timeout_s * 2)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return [Check.fail("gpu", "nvidia-smi did not answer", "check the driver: dmesg | grep -i nvrm")]
    if proc.returncode != 0:
        return [
            Check.fail(
                "gpu",
                f"nvidia-smi failed: {err.decode(errors='replace').strip()[:200]}",
                "check the NVIDIA driver and, in a pod, the device plugin",
            )
        ]
    gpus = []
    for line in out.decode().strip().splitlines():
        index, name, used, total, util = (x.strip() for x in line.split(","))
        gpus.append(
            {
                "index": index,
                "name": name,
                "memory_used_mb": used,
                "memory_total_mb": total,
                "utilization_pct": util,
            }
        )
    text = "; ".join(
        f"#{g['index']} {g['name']} {g['memory_used_mb']}/{g['memory_total_mb']} MiB, "
        f"{g['utilization_pct']}% busy"
        for g in gpus
    )
    return [Check.ok("gpu", text or "no GPUs listed", gpus=gpus)]
