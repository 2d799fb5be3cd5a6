"""The Chatterbox engine where chatterbox-tts may be absent (the CPU image, `make test`): the
failure is named, shown in the status, and voices become clones. The engine against the real
package (random-weights checkpoint, API, voice turn) is in tests_gpu (`make test-gpu-stack`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harvis.speech.chatterbox_tts import ChatterboxEngine
from harvis.speech.tts import TTSUnavailable
from tests.speech.conftest import make_service


def test_what_is_missing_is_named_with_the_fix(tmp_path: Path) -> None:
    ckpt = tmp_path / "cache" / "chatterbox"
    ckpt.mkdir(parents=True)
    (ckpt / "tokenizer.json").write_text("{}")
    with pytest.raises(TTSUnavailable) as info:
        ChatterboxEngine(ckpt, device="cpu").load()
    message = str(info.value)
    if importlib.util.find_spec("chatterbox") is None:
        assert "`chatterbox` (pip install chatterbox-tts" in message and "backend-cuda image" in message
    else:  # .venv-gpu and the CUDA image have the package: the weights are what is missing
        assert str(ckpt) in message and "t3_cfg.safetensors" in message
        assert "harvis models fetch chatterbox" in message
        assert "tokenizer.json" not in message.split("missing in")[1].split("(")[0]


async def test_service_shows_chatterbox_failure(tmp_path: Path) -> None:
    speech = make_service(tmp_path, tts_engine="chatterbox", chatterbox_dir=str(tmp_path / "nothing"))
    with pytest.raises(Exception, match="unavailable"):
        await speech.ensure_tts()
    tts = next(s for s in speech.status() if s["kind"] == "tts")
    assert tts["name"] == "chatterbox" and tts["state"] == "failed" and "chatterbox" in tts["reason"]
    assert speech.voice_mode == "clone"
