"""Speech models on this machine (when no backend is given): are the configured ones in place?"""

from __future__ import annotations

import asyncio
from pathlib import Path

from harvis.doctor.context import Context
from harvis.doctor.result import Check
from harvis.models import catalog


def _configured(ctx: Context) -> list[str]:
    speech = ctx.settings.speech
    names = [speech.stt_model]
    if speech.tts_engine == "piper":
        names.append(f"piper-{speech.tts_voice}")
    return names


async def run(ctx: Context) -> list[Check]:
    if ctx.backend_url:
        return []  # the backend reports its own models (backend speech)
    return await asyncio.to_thread(_local, ctx)


def _local(ctx: Context) -> list[Check]:

    models_dir = ctx.settings.resolved_models_dir
    results: list[Check] = []
    for name in _configured(ctx):
        if Path(name).is_absolute() or name not in catalog.names():
            path = Path(name)
            results.append(
                Check.ok(f"speech {name}", "a local directory")
                if path.exists()
                else Check.fail(
                    f"speech {name}",
                    "not a catalogue name and no such directory",
                    "harvis models list; or point HARVIS_SPEECH__STT_MODEL at a model dir",
                )
            )
            continue
        try:
            where = catalog.resolve(name, models_dir)
        except catalog.ModelMissing as exc:
            results.append(Check.fail(f"speech {name}", str(exc), f"harvis models fetch {name}"))
            continue
        results.append(Check.ok(f"speech {name}", f"in place: {where}"))
    speech = ctx.settings.speech
    if speech.tts_engine == "chatterbox":
        from harvis.speech.chatterbox_tts import ChatterboxEngine
        from harvis.speech.tts import TTSUnavailable

        folder = Path(speech.chatterbox_dir) if speech.chatterbox_dir else models_dir / "chatterbox"
        try:
            ChatterboxEngine(folder).check()  # package, files, damage; loads nothing
        except TTSUnavailable as exc:
            fix = "harvis models fetch chatterbox, or HARVIS_SPEECH__TTS_ENGINE=piper for the CPU"
            results.append(Check.fail("speech chatterbox", str(exc), fix))
        else:
            results.append(Check.ok("speech chatterbox", f"weights in {folder}"))
    return results
