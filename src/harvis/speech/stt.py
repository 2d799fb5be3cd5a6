"""Speech to text with faster-whisper (CTranslate2), always from a local model directory.

Any CTranslate2 Whisper directory works (tiny.en from its package, large-v3-turbo fetched into the
model cache). On CUDA the compute type defaults to float16; CTranslate2 is asked how many CUDA
devices it sees before the model is built, so a CUDA request never lands on the CPU unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvis.speech.audio import STT_RATE, Audio
from harvis.speech.devices import place


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0
    tokens: tuple[int, ...] = ()
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None
    duration_s: float = 0.0
    segments: list[Segment] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)


class WhisperEngine:
    """A resident faster-whisper model. `transcribe` blocks: call it from a worker thread."""

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "cpu",
        compute_type: str = "default",
        threads: int = 1,
        beam_size: int = 1,
        language: str | None = None,
        cpu_fallback: bool = False,
    ) -> None:
        self.model_dir = model_dir
        self.requested_device = device
        self.device = device
        self.requested_compute_type = compute_type
        self.compute_type = compute_type
        self.cpu_fallback = cpu_fallback
        self.fallback = ""
        self.threads = threads
        self.beam_size = beam_size
        self.language = language
        self._model: Any = None

    def load(self) -> WhisperEngine:
        # tokenizer.json too: without it faster-whisper would fetch one from a hub.
        missing = [n for n in ("model.bin", "tokenizer.json") if not (self.model_dir / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"CTranslate2 Whisper model incomplete: {', '.join(missing)} missing in {self.model_dir}"
            )
        import ctranslate2
        from faster_whisper import WhisperModel

        problem = None
        if ctranslate2.get_cuda_device_count() == 0:
            problem = f"CTranslate2 {ctranslate2.__version__} sees no CUDA device"
        placement = place(
            "whisper", self.requested_device, cuda_problem=problem, cpu_fallback=self.cpu_fallback
        )
        self.device, self.fallback = placement.device, placement.fallback
        self.compute_type = _compute_type(self.requested_compute_type, self.device)
        # A path, never a name: a name would make faster-whisper download from a hub.
        self._model = WhisperModel(
            str(self.model_dir),
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=self.threads,
            num_workers=1,
            local_files_only=True,
        )
        return self

    def runtime(self) -> dict[str, Any]:
        return {
            "path": str(self.model_dir),
            "device": self.device,
            "provider": f"ctranslate2-{self.device}",
            "compute_type": self.compute_type,
            "fallback": self.fallback,
        }

    @property
    def multilingual(self) -> bool:
        return bool(getattr(self._model, "model", None) and self._model.model.is_multilingual)

    def transcribe(
        self, audio: Audio, *, language: str | None = None, word_timestamps: bool = False
    ) -> Transcript:
        if self._model is None:
            raise RuntimeError("STT model not loaded")
        if audio.sample_rate != STT_RATE:
            raise ValueError(f"STT needs {STT_RATE} Hz audio, got {audio.sample_rate}")
        if audio.empty:
            return Transcript(text="", language=language or self.language, duration_s=0.0)
        lang = language or self.language
        if not self.multilingual:
            lang = "en"  # an English-only model: any other language would only confuse it
        segments_iter, info = self._model.transcribe(
            audio.samples,
            language=lang,
            beam_size=self.beam_size,
            word_timestamps=word_timestamps,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        segments: list[Segment] = []
        words: list[Word] = []
        for s in segments_iter:  # the generator does the decoding: consume it here, in this thread
            seg_words = tuple(Word(w.start, w.end, w.word, w.probability) for w in (s.words or ()))
            words.extend(seg_words)
            segments.append(
                Segment(
                    id=len(segments),
                    start=s.start,
                    end=s.end,
                    text=s.text.strip(),
                    avg_logprob=s.avg_logprob,
                    no_speech_prob=s.no_speech_prob,
                    compression_ratio=s.compression_ratio,
                    tokens=tuple(s.tokens),
                    words=seg_words,
                )
            )
        text = " ".join(s.text for s in segments if s.text).strip()
        return Transcript(
            text=text, language=info.language, duration_s=audio.duration_s, segments=segments, words=words
        )


def _compute_type(requested: str, device: str) -> str:
    """ "default": float16 on CUDA, int8 on the CPU; a float16 request that fell back to the CPU
    (which has no float16 kernels) runs int8."""
    if requested in ("default", "") or (device == "cpu" and requested == "float16"):
        return "float16" if device == "cuda" else "int8"
    return requested
