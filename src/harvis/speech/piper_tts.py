"""Piper TTS (onnxruntime, CPU or CUDA) from a local .onnx voice and its .onnx.json config.

CUDA needs onnxruntime-gpu (the backend-cuda image has it). onnxruntime itself falls back to the
CPU without a word when its CUDA provider cannot start; here the session's providers are checked
after it is made, so a CUDA request either runs on CUDA, or fails, or (CPU fallback configured)
runs on the CPU and says so.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from harvis.speech.devices import place
from harvis.speech.tts import TTSUnavailable, VoiceRef

_PHONEMIZE_LOCK = threading.Lock()


class PiperEngine:
    name = "piper"

    def __init__(
        self, model_path: Path, *, device: str = "cpu", threads: int = 1, cpu_fallback: bool = False
    ) -> None:
        self.model_path = model_path
        self.threads = threads
        self.config_path = Path(f"{model_path}.json")
        self.requested_device = device
        self.device = device
        self.cpu_fallback = cpu_fallback
        self.fallback = ""
        self.provider = ""
        self.sample_rate = 22_050
        self._voice: Any = None
        self._length_scale = 1.0

    def load(self) -> PiperEngine:
        missing = [str(p) for p in (self.model_path, self.config_path) if not p.is_file()]
        if missing:
            raise TTSUnavailable(f"Piper voice files missing: {', '.join(missing)}")
        self._voice = self._load_voice()
        self.sample_rate = int(self._voice.config.sample_rate)
        self._length_scale = float(self._voice.config.length_scale or 1.0)
        return self

    def _load_voice(self) -> Any:
        import json

        import onnxruntime
        from piper import PiperConfig, PiperVoice

        # PiperVoice.load() would give onnxruntime its defaults (a spinning thread per core);
        # build the session ourselves so the thread count is ours to set.
        options = onnxruntime.SessionOptions()
        if self.threads > 0:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = onnxruntime.get_available_providers()
        problem = None
        if "CUDAExecutionProvider" not in available:
            problem = (
                f"this onnxruntime ({onnxruntime.__version__}) has no CUDA provider (install onnxruntime-gpu)"
            )
        placement = place(
            "piper", self.requested_device, cuda_problem=problem, cpu_fallback=self.cpu_fallback
        )
        if placement.device == "cuda" and hasattr(onnxruntime, "preload_dlls"):
            onnxruntime.preload_dlls()  # CUDA and cuDNN from the nvidia-* wheels, where torch put them
        providers = ["CUDAExecutionProvider"] if placement.device == "cuda" else ["CPUExecutionProvider"]
        session = onnxruntime.InferenceSession(
            str(self.model_path), sess_options=options, providers=providers
        )
        self.provider = session.get_providers()[0]
        self.device, self.fallback = placement.device, placement.fallback
        if placement.device == "cuda" and self.provider != "CUDAExecutionProvider":
            # onnxruntime could not start its CUDA provider (no GPU, no driver, no cuDNN) and
            # quietly made a CPU session instead.
            problem = f"onnxruntime could not start its CUDA provider (the session runs on {self.provider})"
            self.device, self.fallback = (
                "cpu",
                place("piper", "cuda", cuda_problem=problem, cpu_fallback=self.cpu_fallback).fallback,
            )
        config = PiperConfig.from_dict(json.loads(self.config_path.read_text(encoding="utf-8")))
        return PiperVoice(config=config, session=session)

    def runtime(self) -> dict[str, Any]:
        return {
            "path": str(self.model_path),
            "device": self.device,
            "provider": self.provider,
            "fallback": self.fallback,
        }

    def synthesize(self, text: str, *, voice: VoiceRef, speed: float = 1.0) -> np.ndarray:
        if self._voice is None:
            raise RuntimeError("Piper voice not loaded")
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=self._length_scale / max(speed, 0.05))
        # espeak-ng (the phonemizer) keeps global state: one thread at a time. The ONNX model
        # itself is safe to run from several threads at once.
        with _PHONEMIZE_LOCK:
            sentences = self._voice.phonemize(text)
        parts = []
        for phonemes in sentences:
            if phonemes:
                ids = self._voice.phonemes_to_ids(phonemes)
                parts.append(np.asarray(self._voice.phoneme_ids_to_audio(ids, config), dtype=np.float32))
        if not parts:
            return np.zeros(0, np.float32)
        audio = np.concatenate(parts)
        peak = float(np.max(np.abs(audio)))
        # Peak at 0.9, not 1.0: later resampling or pitch work can overshoot a little.
        return (audio * (0.9 / peak)).astype(np.float32) if peak > 1e-8 else np.zeros_like(audio)
