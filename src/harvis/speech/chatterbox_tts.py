"""Chatterbox TTS (GPU deployments): zero-shot cloning from a reference clip.

A thin adapter over chatterbox-tts's public API: `ChatterboxTTS.from_local(ckpt_dir, device)`,
`prepare_conditionals(wav, exaggeration)`, `.conds`, `generate(text, exaggeration, cfg_weight)`,
`.sr`. Weights come from the model cache only (`harvis models fetch chatterbox`); nothing is
downloaded here.

A voice's conditionals (speaker embedding, prompt tokens, reference mel) cost a pass of three
models over the clip: they are prepared once per voice and kept, keyed by the voice id and the
clip's identity (path, size, mtime), so a re-recorded clip is prepared again and a switch between
voices costs nothing. `prepare_count` counts the preparations.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from harvis.models.manifest import size_problems
from harvis.speech.devices import place
from harvis.speech.tts import TTSUnavailable, VoiceRef

# What from_local reads; conds.pt (the built-in voice) is optional.
REQUIRED_FILES = ("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json")
BUILTIN_CONDS = "conds.pt"
FIX = "run `harvis models fetch chatterbox` (add --force to replace a damaged copy)"
# from_local loads the models in this order; a state-dict error names the class, not the file.
_FILE_OF_CLASS = {"VoiceEncoder": "ve.safetensors", "T3": "t3_cfg.safetensors", "S3Gen": "s3gen.safetensors"}
log = logging.getLogger(__name__)


class ChatterboxEngine:
    name = "chatterbox"

    def __init__(
        self,
        ckpt_dir: Path,
        *,
        device: str = "cuda",
        cpu_fallback: bool = False,
        exaggeration: float = 0.5,
        cfg_weight: float = 0.5,
        max_voices: int = 32,
    ) -> None:
        self.ckpt_dir = ckpt_dir
        self.requested_device = device
        self.device = device
        self.cpu_fallback = cpu_fallback
        self.fallback = ""
        self.exaggeration = exaggeration
        self.cfg_weight = cfg_weight
        self.sample_rate = 24_000
        self.max_voices = max_voices
        self.prepare_count = 0
        self._model: Any = None
        self._builtin: Any = None
        self._voices: OrderedDict[tuple[str, str, int, int], Any] = OrderedDict()
        self._memory_mb: float | None = None
        # generate() reads the conditionals from the model object: one request at a time.
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise TTSUnavailable naming what is missing or damaged (package or weights) and the fix."""
        if importlib.util.find_spec("chatterbox") is None:
            raise TTSUnavailable(
                "Chatterbox is not installed: the Python package `chatterbox` (pip install chatterbox-tts, "
                "with a CUDA build of torch: the backend-cuda image has it) was not found in this environment"
            )
        missing = [n for n in REQUIRED_FILES if not (self.ckpt_dir / n).is_file()]
        if missing:
            raise TTSUnavailable(
                f"Chatterbox weights missing in {self.ckpt_dir}: {', '.join(missing)} ({FIX}, or set "
                "HARVIS_SPEECH__CHATTERBOX_DIR to a directory that holds them)"
            )
        damaged = size_problems(self.ckpt_dir)  # the fetch's manifest, where there is one
        if damaged:
            raise TTSUnavailable(
                f"Chatterbox weights in {self.ckpt_dir} are damaged: {'; '.join(damaged)} ({FIX})"
            )
        for name in REQUIRED_FILES[:3]:
            self._check_safetensors(self.ckpt_dir / name)
        try:
            json.loads((self.ckpt_dir / "tokenizer.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise TTSUnavailable(
                f"{self.ckpt_dir / 'tokenizer.json'} is not a tokenizer file ({exc}); {FIX}"
            ) from None

    @staticmethod
    def _check_safetensors(path: Path) -> None:
        from safetensors import safe_open

        try:  # reads the header only; a truncated or foreign file fails here, by name
            with safe_open(str(path), framework="pt") as f:
                f.keys()
        except Exception as exc:  # safetensors raises its own error types
            raise TTSUnavailable(f"{path} is corrupt or not a safetensors file ({exc}); {FIX}") from None

    def load(self) -> ChatterboxEngine:
        self.check()
        import torch

        problem = None if torch.cuda.is_available() else "torch sees no CUDA device"
        if self.requested_device == "cuda" and torch.version.cuda is None:
            problem = f"this torch ({torch.__version__}) is a CPU-only build"
        placement = place(
            "chatterbox", self.requested_device, cuda_problem=problem, cpu_fallback=self.cpu_fallback
        )
        self.device, self.fallback = placement.device, placement.fallback
        tts_module = importlib.import_module("chatterbox.tts")
        before = torch.cuda.memory_allocated() if self.device == "cuda" else 0
        try:
            self._model = tts_module.ChatterboxTTS.from_local(self.ckpt_dir, self.device)
        except RuntimeError as exc:
            culprit = next((f for c, f in _FILE_OF_CLASS.items() if f"for {c}:" in str(exc)), None)
            if culprit is None:
                raise
            first = str(exc).splitlines()[0]
            raise TTSUnavailable(
                f"{self.ckpt_dir / culprit} does not fit Chatterbox's model ({first}); {FIX}"
            ) from None
        except Exception as exc:  # tokenizer or conds.pt that the library cannot read
            raise TTSUnavailable(f"Chatterbox could not load {self.ckpt_dir}: {exc!r}; {FIX}") from None
        if self.device == "cuda":
            self._memory_mb = (torch.cuda.memory_allocated() - before) / 2**20
        self._builtin = self._model.conds
        self.sample_rate = int(self._model.sr)
        return self

    def runtime(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "path": str(self.ckpt_dir),
            "device": self.device,
            "provider": "torch-cuda" if self.device == "cuda" else "torch-cpu",
            "fallback": self.fallback,
            "voices_prepared": self.prepare_count,
        }
        if self._memory_mb is not None:
            info["memory_mb"] = self._memory_mb
        return info

    @property
    def has_builtin_voice(self) -> bool:
        return (self.ckpt_dir / BUILTIN_CONDS).is_file()

    def synthesize(self, text: str, *, voice: VoiceRef, speed: float = 1.0) -> np.ndarray:
        # Chatterbox has no speed control; `speed` is accepted for the interface and ignored.
        if self._model is None:
            raise RuntimeError("Chatterbox not loaded")
        exaggeration = self.exaggeration if voice.exaggeration is None else voice.exaggeration
        cfg_weight = self.cfg_weight if voice.cfg_weight is None else voice.cfg_weight
        with self._lock:
            self._model.conds = self._conditionals(voice, exaggeration)
            wav = self._model.generate(text, exaggeration=exaggeration, cfg_weight=cfg_weight)
        return _to_numpy(wav)

    def _conditionals(self, voice: VoiceRef, exaggeration: float) -> Any:
        """The voice's prepared conditionals, made on first use (generate() adjusts exaggeration)."""
        if voice.reference is None:
            if self._builtin is None:
                raise TTSUnavailable(
                    f"Chatterbox has no built-in voice: {BUILTIN_CONDS} missing in {self.ckpt_dir}; "
                    "use a voice from the library"
                )
            return self._builtin
        try:
            stat = voice.reference.stat()
        except OSError:
            raise TTSUnavailable(
                f"reference clip for voice {voice.id} is missing: {voice.reference}"
            ) from None
        key = (voice.id, str(voice.reference), stat.st_size, stat.st_mtime_ns)
        conds = self._voices.get(key)
        if conds is None:
            self._model.prepare_conditionals(str(voice.reference), exaggeration=exaggeration)
            conds = self._model.conds
            self.prepare_count += 1
            log.info("chatterbox: prepared voice %s (%d prepared so far)", voice.id, self.prepare_count)
            self._voices[key] = conds
            while len(self._voices) > self.max_voices:
                self._voices.popitem(last=False)
        self._voices.move_to_end(key)
        return conds


def _to_numpy(wav: Any) -> np.ndarray:
    if hasattr(wav, "detach"):  # a torch tensor, shape (1, n)
        wav = wav.detach().cpu().numpy()
    return np.asarray(wav, dtype=np.float32).reshape(-1)
