"""Read a GGUF file's header (key/values and tensor shapes) without loading the model.

/api/tags and /api/show describe models that are not loaded, so the node reads what it
needs (architecture, quantization, parameter count, chat template) straight from the file.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# GGUF value types -> struct format (scalars only; 8 = string, 9 = array).
_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9

# llama.cpp's llama_ftype, as Ollama names it in details.quantization_level.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
}


class NotGGUF(ValueError):
    pass


@dataclass
class GGUFInfo:
    # Scalars and strings as they are; arrays are kept as their length only (they are big).
    metadata: dict[str, Any] = field(default_factory=dict)
    array_lengths: dict[str, int] = field(default_factory=dict)
    parameter_count: int = 0

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def quantization(self) -> str:
        ftype = self.metadata.get("general.file_type")
        return FILE_TYPES.get(ftype, "unknown") if isinstance(ftype, int) else "unknown"

    @property
    def chat_template(self) -> str:
        return str(self.metadata.get("tokenizer.chat_template", ""))

    @property
    def context_length(self) -> int:
        return int(self.metadata.get(f"{self.architecture}.context_length", 0))

    def kv_cache_bytes(self, n_ctx: int) -> int:
        """Size of an f16 K+V cache for ``n_ctx`` tokens (what /api/ps adds to the weights)."""
        arch, m = self.architecture, self.metadata
        layers = int(m.get(f"{arch}.block_count", 0))
        heads = int(m.get(f"{arch}.attention.head_count", 0)) or 1
        kv_heads = int(m.get(f"{arch}.attention.head_count_kv", heads))
        head_dim = (
            int(m.get(f"{arch}.attention.key_length", 0))
            or int(m.get(f"{arch}.embedding_length", 0)) // heads
        )
        return 2 * 2 * n_ctx * layers * kv_heads * head_dim


class _Reader:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.pos = 0

    def scalar(self, fmt: str) -> Any:
        (value,) = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.scalar("Q")
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self.pos += 8 + self.scalar("Q")

    def value(self, vtype: int) -> Any:
        if vtype == _STRING:
            return self.string()
        return self.scalar(_SCALAR[vtype])

    def skip_array(self, etype: int, count: int) -> None:
        if etype == _STRING:
            for _ in range(count):
                self.skip_string()
        elif etype == _ARRAY:
            for _ in range(count):
                inner, n = self.scalar("I"), self.scalar("Q")
                self.skip_array(inner, n)
        else:
            self.pos += struct.calcsize(_SCALAR[etype]) * count


def read_gguf(path: Path) -> GGUFInfo:
    """Parse the header of a GGUF v2/v3 file. Raises NotGGUF for anything else."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != b"GGUF":
            raise NotGGUF(f"{path} is not a GGUF file")
        r = _Reader(buf)
        r.pos = 4
        version = r.scalar("I")
        if version < 2:
            raise NotGGUF(f"{path}: GGUF version {version} is not supported")
        n_tensors, n_kv = r.scalar("Q"), r.scalar("Q")
        info = GGUFInfo()
        try:
            for _ in range(n_kv):
                key, vtype = r.string(), r.scalar("I")
                if vtype == _ARRAY:
                    etype, count = r.scalar("I"), r.scalar("Q")
                    info.array_lengths[key] = count
                    r.skip_array(etype, count)
                else:
                    info.metadata[key] = r.value(vtype)
            for _ in range(n_tensors):
                r.skip_string()
                dims = [r.scalar("Q") for _ in range(r.scalar("I"))]
                r.pos += 4 + 8  # tensor type, data offset
                count = 1
                for d in dims:
                    count *= d
                info.parameter_count += count
        except (struct.error, KeyError) as exc:
            raise NotGGUF(f"{path}: damaged GGUF header ({exc})") from None
        return info


def human_parameters(count: int) -> str:
    """Ollama's style for details.parameter_size: "494.03M", "1.5B", "7B"."""
    if count >= 1_000_000_000:
        value = count / 1e9
        return f"{value:.0f}B" if value == int(value) else f"{value:.1f}B"
    if count >= 1_000_000:
        value = count / 1e6
        return f"{value:.0f}M" if value == int(value) else f"{value:.2f}M"
    if count >= 1_000:
        return f"{count / 1e3:.0f}K"
    return str(count)
