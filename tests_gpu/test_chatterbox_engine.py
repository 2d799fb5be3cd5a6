"""Harvis's Chatterbox engine on the real chatterbox-tts (CPU, random-weights checkpoint): the
library's loading, conditionals and generation; conditionals prepared once per voice; style per
voice and per request; missing or damaged weights named with the fix."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.chatterbox_checkpoint import reference_clip

from harvis.models.manifest import MANIFEST
from harvis.speech.chatterbox_tts import ChatterboxEngine
from harvis.speech.devices import DeviceUnavailable
from harvis.speech.tts import TTSUnavailable, VoiceRef

FILES = ("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json", "conds.pt")


@pytest.fixture(scope="module")
def engine(checkpoint: Path) -> ChatterboxEngine:
    return ChatterboxEngine(checkpoint, device="cpu", exaggeration=0.5, cfg_weight=0.5).load()


def clone(voice_id: str, clip: Path, **style: Any) -> VoiceRef:
    return VoiceRef(id=voice_id, name=voice_id, mode="clone", engine="chatterbox", reference=clip, **style)


def spy_generate(engine: ChatterboxEngine) -> list[dict[str, Any]]:
    """Record the arguments of the library's own generate() (which still runs)."""
    calls: list[dict[str, Any]] = []
    model: Any = engine._model
    real = type(model).generate

    def recording(text: str, **kwargs: Any) -> Any:
        calls.append({"text": text, **kwargs, "emotion": None})
        out = real(model, text, **kwargs)
        calls[-1]["emotion"] = float(model.conds.t3.emotion_adv.flatten()[0])
        return out

    model.generate = recording
    return calls


def test_loads_from_the_checkpoint_and_reports_where_it_runs(
    engine: ChatterboxEngine, checkpoint: Path
) -> None:
    assert engine.sample_rate == 24_000  # the library's S3GEN_SR
    info = engine.runtime()
    assert info["device"] == "cpu" and info["provider"] == "torch-cpu" and info["path"] == str(checkpoint)
    assert not info["fallback"]


def test_voices_are_prepared_once_and_styled_per_voice_and_request(
    engine: ChatterboxEngine, tmp_path: Path
) -> None:
    builtin = VoiceRef(id="default", name="Default", mode="builtin", engine="chatterbox")
    pcm = engine.synthesize("Hello there, this is one clause.", voice=builtin)
    assert pcm.dtype == np.float32 and pcm.ndim == 1
    assert 0.2 * 24_000 < len(pcm) < 3 * 24_000  # ~25 speech tokens at 25 per second
    assert np.isfinite(pcm).all() and 0 < float(np.abs(pcm).max()) <= 1.0

    ann, bob = reference_clip(tmp_path / "ann.wav", 5.5), reference_clip(tmp_path / "bob.wav", 5.5)
    calls = spy_generate(engine)
    start = engine.prepare_count
    engine.synthesize("First clause for Ann.", voice=clone("ann", ann))
    styled = clone("ann", ann, exaggeration=1.4, cfg_weight=0.3)  # the voice's own style
    engine.synthesize("Ann, in her own style.", voice=styled)
    assert engine.prepare_count == start + 1  # the second clause reused Ann's conditionals
    engine.synthesize("Now Bob, styled by this request.", voice=clone("bob", bob, exaggeration=0.8))
    assert engine.prepare_count == start + 2
    os.utime(ann, ns=(1, 1))  # Ann's clip was replaced: prepared again
    engine.synthesize("Ann, re-recorded.", voice=clone("ann", ann))
    assert engine.prepare_count == start + 3
    assert all("audio_prompt_path" not in c for c in calls)  # never re-conditioned by generate()
    assert [(c["exaggeration"], c["cfg_weight"]) for c in calls] == [
        (0.5, 0.5),
        (1.4, 0.3),
        (0.8, 0.5),
        (0.5, 0.5),
    ]
    # The library applied each one to the conditionals it generated with.
    assert [round(c["emotion"], 3) for c in calls] == [0.5, 1.4, 0.8, 0.5]


def damaged_copy(checkpoint: Path, where: Path, **replace: bytes | None) -> Path:
    """A checkpoint of symlinks to the real files, with some replaced (bytes) or left out (None)."""
    where.mkdir()
    for name in FILES:
        if name in replace:
            if replace[name] is not None:
                (where / name).write_bytes(replace[name])  # type: ignore[arg-type]
        else:
            (where / name).symlink_to(checkpoint / name)
    return where


def test_missing_and_damaged_weights_are_named_with_the_fix(checkpoint: Path, tmp_path: Path) -> None:
    head = (checkpoint / "t3_cfg.safetensors").open("rb").read(1 << 20)
    broken: dict[str, tuple[str, bytes | None]] = {
        "missing": ("s3gen.safetensors", None),
        "truncated": ("t3_cfg.safetensors", head),
        "garbage": ("ve.safetensors", b"<html>502</html>"),
        "tokenizer": ("tokenizer.json", b"{not json"),
    }
    cases = {
        case: (damaged_copy(checkpoint, tmp_path / case.replace(" ", "-"), **{name: data}), name)
        for case, (name, data) in broken.items()
    }
    wrong = damaged_copy(checkpoint, tmp_path / "e", **{"t3_cfg.safetensors": None})
    (wrong / "t3_cfg.safetensors").symlink_to(checkpoint / "ve.safetensors")  # a real file, the wrong model
    cases["wrong model"] = (wrong, "t3_cfg.safetensors")
    for case, (ckpt, culprit) in cases.items():
        with pytest.raises(TTSUnavailable) as info:
            ChatterboxEngine(ckpt, device="cpu").load()
        message = str(info.value)
        assert culprit in message and "harvis models fetch chatterbox" in message, (case, message)


def test_a_manifest_size_mismatch_is_caught_before_loading(checkpoint: Path, tmp_path: Path) -> None:
    ckpt = damaged_copy(checkpoint, tmp_path / "m")
    files = {n: {"sha256": "0" * 64, "size": (checkpoint / n).stat().st_size} for n in FILES}
    files["s3gen.safetensors"]["size"] += 1  # the fetch wrote more than is there now
    (ckpt / MANIFEST).write_text(json.dumps({"name": "chatterbox", "files": files}))
    with pytest.raises(
        TTSUnavailable, match=r"damaged: s3gen\.safetensors has .* bytes.*harvis models fetch"
    ):
        ChatterboxEngine(ckpt, device="cpu").check()


def test_cuda_where_there_is_none(checkpoint: Path) -> None:
    import torch

    assert not torch.cuda.is_available(), "this test needs a machine without a CUDA device"
    with pytest.raises(DeviceUnavailable, match=r"chatterbox: CUDA was asked for .*no CUDA device"):
        ChatterboxEngine(checkpoint, device="cuda").load()
