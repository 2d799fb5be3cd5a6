"""Speech models on this machine (when no backend is given): are the configured ones in place?"""

from __future__ import annotations

import asyncio
from pathlib import Path

from harvis.doctor.context import Context
from harvis.doctor.result import Check


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
    from harvis.models import catalog

    models_dir = ctx.settings.resolved_models_dir
    results: list[Check] = []
    for name in _configured(ctx):
        if Path(name).is_absolute() or name not in catalog.CATALOG:
            path = Path(name)
            results.append(Check.ok(f"speech {name}", "a local directory") if path.exists() else
                           Check.fail(f"speech {name}", "not a catalogue name and no such directory",
                                      "harvis models list; or point HARVIS_SPEECH__STT_MODEL at a model dir"))
            continue
        try:
            where = catalog.resolve(name, models_dir)
        except catalog.ModelMissing as exc:
            results.append(Check.fail(f"speech {name}", str(exc), f"harvis models fetch {name}"))
            continue
        results.append(Check.ok(f"speech {name}", f"in place: {where}"))
    if ctx.settings.speech.tts_engine == "chatterbox":
        folder = models_dir / "chatterbox"
        results.append(Check.ok("speech chatterbox", f"weights folder {folder}") if folder.is_dir() else
                       Check.fail("speech chatterbox", f"no weights in {folder}",
                                  "copy the Chatterbox checkpoint there (nothing is downloaded), "
                                  "or use HARVIS_SPEECH__TTS_ENGINE=piper"))
    return results
