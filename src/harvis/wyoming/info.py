"""The `info` event: what this server offers, built fresh for each `describe`.

asr: the resident Whisper model and its languages; tts: the built-in voice and the voices an
admin shared (never a user's private voice); handle: one conversation agent and the model it
answers with. Voices are named by id (stable: what `synthesize` sends back), described by name.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    HandleModel,
    HandleProgram,
    Info,
    TtsProgram,
    TtsVoice,
)

from harvis.models import catalog
from harvis.speech.resident import ModelUnavailable
from harvis.speech.service import SpeechService
from harvis.speech.voices import VoiceLibrary

log = logging.getLogger(__name__)
VERSION = "0.1.0"
HARVIS = Attribution(name="Harvis", url="https://github.com/harvis-ai/harvis")
ASR_PROGRAM, TTS_PROGRAM, HANDLE_PROGRAM = "harvis-whisper", "harvis-tts", "harvis-assistant"


async def asr_languages(speech: SpeechService) -> tuple[list[str], bool]:
    """The resident model's languages, and whether it could be loaded at all."""
    try:
        engine = await speech.stt.get()
    except ModelUnavailable:
        return (["en"] if speech.settings.stt_model.endswith(".en") else []), False
    if not engine.multilingual:
        return ["en"], True
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return sorted(_LANGUAGE_CODES), True


def tts_languages(speech: SpeechService) -> list[str]:
    """Piper names its voice's language in the config beside the model (e.g. en_US)."""
    if speech.engine_name != "piper":
        return ["en"]
    voice = speech.settings.tts_voice
    try:
        model = Path(voice) if ("/" in voice or voice.endswith(".onnx")) else None
        model = model or catalog.resolve(f"piper-{voice}", speech.models_dir)
        config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
        return [str(config["language"]["code"])]
    except (OSError, KeyError, TypeError, ValueError, catalog.ModelMissing):
        log.info("wyoming: the Piper voice's language is unknown; announcing none", exc_info=True)
        return []


async def build_info(db: AsyncSession, *, speech: SpeechService, voices: VoiceLibrary, model: str) -> Info:
    asr_langs, stt_ready = await asr_languages(speech)
    tts_langs = tts_languages(speech)
    builtin = speech.builtin_voice
    tts_voices = [
        TtsVoice(
            name=builtin.id,
            description=builtin.name,
            attribution=HARVIS,
            installed=True,
            version=None,
            languages=tts_langs,
        )
    ]
    tts_voices += [
        TtsVoice(
            name=v.id,
            description=f"{v.name} (shared)",
            attribution=HARVIS,
            installed=True,
            version=None,
            languages=tts_langs,
        )
        for v in await voices.shared(db)
    ]
    return Info(
        asr=[
            AsrProgram(
                name=ASR_PROGRAM,
                description="Harvis speech recognition (faster-whisper, resident)",
                attribution=HARVIS,
                installed=True,
                version=VERSION,
                supports_transcript_streaming=True,
                models=[
                    AsrModel(
                        name=speech.stt.name,
                        description=f"Whisper {speech.stt.name}",
                        attribution=Attribution(name="OpenAI", url="https://github.com/openai/whisper"),
                        installed=stt_ready,
                        version=None,
                        languages=asr_langs,
                    )
                ],
            )
        ],
        tts=[
            TtsProgram(
                name=TTS_PROGRAM,
                description=f"Harvis speech synthesis ({speech.engine_name})",
                attribution=HARVIS,
                installed=True,
                version=VERSION,
                supports_synthesize_streaming=True,
                voices=tts_voices,
            )
        ],
        handle=[
            HandleProgram(
                name=HANDLE_PROGRAM,
                description="Harvis: answers through its LLM router, one chat per conversation",
                attribution=HARVIS,
                installed=True,
                version=VERSION,
                supports_handled_streaming=True,
                # The model it answers with; languages: whatever the model speaks (an empty
                # list means "any" to Home Assistant).
                models=[
                    HandleModel(
                        name=model,
                        description=f"{model} through the Harvis router",
                        attribution=HARVIS,
                        installed=True,
                        version=None,
                        languages=[],
                    )
                ],
            )
        ],
    )
