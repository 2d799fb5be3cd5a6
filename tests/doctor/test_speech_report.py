"""`harvis doctor` shows where each speech model runs (device, provider, memory, path) and a CPU
fallback in capitals; locally it names what Chatterbox lacks and the fix."""

from __future__ import annotations

from pathlib import Path

from harvis.config import Settings, SpeechSettings
from harvis.doctor.backend import _speech_checks
from harvis.doctor.context import Context
from harvis.doctor.speech import _local


def test_backend_speech_detail_says_where_each_model_runs() -> None:
    models = [
        {
            "name": "whisper-large-v3-turbo",
            "state": "ready",
            "device": "cuda",
            "provider": "ctranslate2-cuda",
            "memory_mb": 1630.4,
            "path": "/models/whisper-large-v3-turbo",
        },
        {
            "name": "piper-joe",
            "state": "ready",
            "device": "cpu",
            "provider": "CPUExecutionProvider",
            "memory_mb": 80.0,
            "path": "/models/piper-joe/en_US-joe-medium.onnx",
            "fallback": "CUDA asked for but no GPU",
        },
    ]
    (check,) = _speech_checks(models)
    assert (
        "whisper-large-v3-turbo=ready (cuda, ctranslate2-cuda, 1630 MB, /models/whisper-large-v3-turbo)"
        in (check.detail)
    )
    assert "FALLBACK: CUDA asked for but no GPU" in check.detail


def test_local_doctor_names_missing_chatterbox_weights_and_the_fix(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, models_dir=tmp_path / "models", speech=SpeechSettings(tts_engine="chatterbox")
    )
    checks = {c.name: c for c in _local(Context(settings=settings))}
    chatterbox = checks["speech chatterbox"]
    assert chatterbox.status.name == "FAIL" and "harvis models fetch chatterbox" in chatterbox.fix
    assert "chatterbox" in chatterbox.detail
