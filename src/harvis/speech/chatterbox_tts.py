"""Chatterbox TTS (GPU deployments): zero-shot cloning from a reference clip.

A thin adapter over chatterbox-tts's public API (`ChatterboxTTS.from_local(ckpt_dir, device)`,
`generate(text, audio_prompt_path=…, exaggeration=…, cfg_weight=…)`, `.sr`). Weights come
from the model cache only (`harvis models fetch chatterbox`); nothing is downloaded here.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from harvis.speech.tts import TTSUnavailable, VoiceRef

# What from_local reads; conds.pt (the built-in voice) is optional.
REQUIRED_FILES = ("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json")
BUILTIN_CONDS = "conds.pt"


class ChatterboxEngine:
    name = "chatterbox"

    def __init__(self, ckpt_dir: Path, *, device: str = "cuda", exaggeration: float = 0.5,
                 cfg_weight: float = 0.5) -> None:
        self.ckpt_dir = ckpt_dir
        self.device = device
        self.exaggeration = exaggeration
        self.cfg_weight = cfg_weight
        self.sample_rate = 24_000
        self._model: Any = None
        # generate() keeps the prepared speaker in the model: one request at a time.
        self._lock = threading.Lock()
        self._prepared: Path | None = None

    def check(self) -> None:
        """Raise TTSUnavailable naming what is missing (package or weights) and where we looked."""
        if importlib.util.find_spec("chatterbox") is None:
            raise TTSUnavailable(
                "Chatterbox is not installed: the Python package `chatterbox` (pip install chatterbox-tts, "
                "needs a CUDA build of torch) was not found in this environment")
        missing = [n for n in REQUIRED_FILES if not (self.ckpt_dir / n).is_file()]
        if missing:
            raise TTSUnavailable(
                f"Chatterbox weights missing in {self.ckpt_dir}: {', '.join(missing)} "
                "(fill the model cache with `harvis models fetch chatterbox`, or set "
                "HARVIS_SPEECH__CHATTERBOX_DIR to a directory that holds them)")

    def load(self) -> ChatterboxEngine:
        self.check()
        tts_module = importlib.import_module("chatterbox.tts")
        self._model = tts_module.ChatterboxTTS.from_local(self.ckpt_dir, self.device)
        self.sample_rate = int(self._model.sr)
        return self

    @property
    def has_builtin_voice(self) -> bool:
        return (self.ckpt_dir / BUILTIN_CONDS).is_file()

    def synthesize(self, text: str, *, voice: VoiceRef, speed: float = 1.0) -> np.ndarray:
        # Chatterbox has no speed control; `speed` is accepted for the interface and ignored.
        if self._model is None:
            raise RuntimeError("Chatterbox not loaded")
        kwargs: dict[str, Any] = {"exaggeration": self.exaggeration, "cfg_weight": self.cfg_weight}
        with self._lock:
            if voice.reference is not None:
                if not voice.reference.is_file():
                    raise TTSUnavailable(f"reference clip for voice {voice.id} is missing: {voice.reference}")
                if self._prepared != voice.reference:
                    # Conditioning on a clip is costly: do it once per voice switch, not per sentence.
                    kwargs["audio_prompt_path"] = str(voice.reference)
                    self._prepared = voice.reference
            else:
                if not self.has_builtin_voice:
                    raise TTSUnavailable(f"Chatterbox has no built-in voice: {BUILTIN_CONDS} missing in "
                                         f"{self.ckpt_dir}; use a voice from the library")
                if self._prepared is not None:
                    self._reload_builtin()
            wav = self._model.generate(text, **kwargs)
        return _to_numpy(wav)

    def _reload_builtin(self) -> None:
        # from_local loads conds.pt as the default speaker; reloading restores it after a clone.
        tts_module = importlib.import_module("chatterbox.tts")
        conds = tts_module.Conditionals.load(self.ckpt_dir / BUILTIN_CONDS)
        self._model.conds = conds.to(self.device)
        self._prepared = None


def _to_numpy(wav: Any) -> np.ndarray:
    if hasattr(wav, "detach"):  # a torch tensor, shape (1, n)
        wav = wav.detach().cpu().numpy()
    return np.asarray(wav, dtype=np.float32).reshape(-1)
