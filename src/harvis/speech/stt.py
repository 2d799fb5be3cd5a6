"""Speech to text with faster-whisper (CTranslate2), always from a local model directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvis.speech.audio import STT_RATE, Audio


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

    def __init__(self, model_dir: Path, *, device: str = "cpu", compute_type: str = "int8",
                 threads: int = 1, beam_size: int = 1, language: str | None = None) -> None:
        self.model_dir = model_dir
        self.device = device
        self.compute_type = compute_type
        self.threads = threads
        self.beam_size = beam_size
        self.language = language
        self._model: Any = None

    def load(self) -> WhisperEngine:
        # tokenizer.json too: without it faster-whisper would fetch one from a hub.
        missing = [n for n in ("model.bin", "tokenizer.json") if not (self.model_dir / n).is_file()]
        if missing:
            raise FileNotFoundError(f"CTranslate2 Whisper model incomplete: {', '.join(missing)} "
                                    f"missing in {self.model_dir}")
        from faster_whisper import WhisperModel

        # A path, never a name: a name would make faster-whisper download from a hub.
        self._model = WhisperModel(str(self.model_dir), device=self.device, compute_type=self.compute_type,
                                   cpu_threads=self.threads, num_workers=1, local_files_only=True)
        return self

    @property
    def multilingual(self) -> bool:
        return bool(getattr(self._model, "model", None) and self._model.model.is_multilingual)

    def transcribe(self, audio: Audio, *, language: str | None = None,
                   word_timestamps: bool = False) -> Transcript:
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
            audio.samples, language=lang, beam_size=self.beam_size, word_timestamps=word_timestamps,
            condition_on_previous_text=False, vad_filter=False)
        segments: list[Segment] = []
        words: list[Word] = []
        for s in segments_iter:  # the generator does the decoding: consume it here, in this thread
            seg_words = tuple(Word(w.start, w.end, w.word, w.probability) for w in (s.words or ()))
            words.extend(seg_words)
            segments.append(Segment(id=len(segments), start=s.start, end=s.end, text=s.text.strip(),
                                    avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob,
                                    compression_ratio=s.compression_ratio, tokens=tuple(s.tokens),
                                    words=seg_words))
        text = " ".join(s.text for s in segments if s.text).strip()
        return Transcript(text=text, language=info.language, duration_s=audio.duration_s,
                          segments=segments, words=words)
