"""Which device a speech engine runs on: the one asked for, or a clear error, never a quiet CPU.

Asking for CUDA where there is none fails with a message naming what is missing, unless a CPU
fallback was configured (HARVIS_SPEECH__CPU_FALLBACK=true): then the engine runs on the CPU and
says so in its status (`fallback`) and its start-up log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

FIX = (
    "run on a machine with an NVIDIA GPU and its driver (in Kubernetes: a node with the NVIDIA "
    "device plugin and `nvidia.com/gpu` in the pod's limits), set HARVIS_SPEECH__DEVICE=cpu, or allow "
    "HARVIS_SPEECH__CPU_FALLBACK=true"
)


class DeviceUnavailable(RuntimeError):
    """The device asked for cannot be used here; the message says why and what to change."""


@dataclass(frozen=True)
class Placement:
    device: str  # what the engine really runs on: "cuda" | "cpu"
    fallback: str = ""  # why it is not on the device asked for ("" = it is)


def place(engine: str, requested: str, *, cuda_problem: str | None, cpu_fallback: bool) -> Placement:
    """`cuda_problem` is None when CUDA works for this engine, else what stops it."""
    if requested not in ("cpu", "cuda"):
        raise DeviceUnavailable(f"{engine}: unknown device {requested!r} (HARVIS_SPEECH__DEVICE: cpu | cuda)")
    if requested == "cpu" or cuda_problem is None:
        return Placement(requested)
    if not cpu_fallback:
        raise DeviceUnavailable(
            f"{engine}: CUDA was asked for (HARVIS_SPEECH__DEVICE=cuda) but {cuda_problem}; {FIX}"
        )
    reason = f"CUDA asked for but {cuda_problem}; running on the CPU (HARVIS_SPEECH__CPU_FALLBACK=true)"
    log.warning("%s: %s", engine, reason)
    return Placement("cpu", reason)
