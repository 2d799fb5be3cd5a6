"""The Chatterbox adapter. The real package needs a CUDA torch and 3 GB of weights, so it cannot
run here: the error paths run for real, and the adapter's calls are checked against a stand-in
module that follows chatterbox-tts's public API (injected only because the package is absent)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from harvis.speech.chatterbox_tts import REQUIRED_FILES, ChatterboxEngine
from harvis.speech.tts import TTSUnavailable, VoiceRef
from tests.speech.conftest import make_service


class StandInChatterboxTTS:
    """chatterbox.tts.ChatterboxTTS's public surface: from_local, generate, prepare_conditionals, sr."""

    instances: ClassVar[list[StandInChatterboxTTS]] = []

    def __init__(self, ckpt_dir: Path, device: str) -> None:
        self.ckpt_dir, self.device, self.sr = Path(ckpt_dir), device, 24_000
        self.calls: list[dict[str, Any]] = []
        self.conds: Any = "builtin" if (self.ckpt_dir / "conds.pt").exists() else None

    @classmethod
    def from_local(cls, ckpt_dir: Path, device: str) -> StandInChatterboxTTS:
        for name in REQUIRED_FILES:  # the real one fails the same way on a missing file
            if not (Path(ckpt_dir) / name).is_file():
                raise FileNotFoundError(Path(ckpt_dir) / name)
        inst = cls(ckpt_dir, device)
        cls.instances.append(inst)
        return inst

    def prepare_conditionals(self, wav_fpath: str, exaggeration: float = 0.5) -> None:
        self.conds = f"clip:{wav_fpath}"

    def generate(self, text: str, repetition_penalty: float = 1.2, min_p: float = 0.05, top_p: float = 1.0,
                 audio_prompt_path: str | None = None, exaggeration: float = 0.5, cfg_weight: float = 0.5,
                 temperature: float = 0.8) -> np.ndarray:
        if audio_prompt_path:
            self.prepare_conditionals(audio_prompt_path, exaggeration)
        assert self.conds is not None, "Please `prepare_conditionals` first or specify `audio_prompt_path`"
        self.calls.append({"text": text, "audio_prompt_path": audio_prompt_path, "conds": self.conds,
                           "exaggeration": exaggeration, "cfg_weight": cfg_weight})
        # Shape (1, n), as the real one returns.
        return np.full((1, self.sr // 10 * len(text.split())), 0.1, np.float32)


class StandInConditionals:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def load(cls, fpath: Path, map_location: str = "cpu") -> StandInConditionals:
        return cls(Path(fpath))

    def to(self, device: str) -> str:
        return "builtin"


@pytest.fixture
def standin_package(monkeypatch: pytest.MonkeyPatch) -> None:
    assert importlib.util.find_spec("chatterbox") is None, "the real chatterbox is installed: test it instead"
    package = types.ModuleType("chatterbox")
    package.__spec__ = importlib.machinery.ModuleSpec("chatterbox", None, is_package=True)
    package.__path__ = []
    tts = types.ModuleType("chatterbox.tts")
    tts.__spec__ = importlib.machinery.ModuleSpec("chatterbox.tts", None)
    tts.ChatterboxTTS = StandInChatterboxTTS  # type: ignore[attr-defined]
    tts.Conditionals = StandInConditionals  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "chatterbox", package)
    monkeypatch.setitem(sys.modules, "chatterbox.tts", tts)
    StandInChatterboxTTS.instances.clear()


def weights(directory: Path, *, conds: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in REQUIRED_FILES + (("conds.pt",) if conds else ()):
        (directory / name).write_bytes(b"weights")
    return directory


def test_missing_package_is_named(tmp_path: Path) -> None:
    engine = ChatterboxEngine(weights(tmp_path / "ckpt"))
    if importlib.util.find_spec("chatterbox") is None:
        with pytest.raises(TTSUnavailable, match=r"`chatterbox` \(pip install chatterbox-tts"):
            engine.check()
    else:  # on a GPU box with the package: the weights we made are fake, so loading must fail loudly
        with pytest.raises(Exception):  # noqa: B017
            engine.load()


def test_missing_weights_are_named_with_the_directory(tmp_path: Path, standin_package: None) -> None:
    ckpt = tmp_path / "cache" / "chatterbox"
    ckpt.mkdir(parents=True)
    (ckpt / "tokenizer.json").write_text("{}")
    with pytest.raises(TTSUnavailable) as info:
        ChatterboxEngine(ckpt).load()
    message = str(info.value)
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


def test_adapter_follows_the_public_api(tmp_path: Path, standin_package: None) -> None:
    ckpt = weights(tmp_path / "ckpt")
    engine = ChatterboxEngine(ckpt, device="cuda", exaggeration=0.7, cfg_weight=0.3).load()
    model = StandInChatterboxTTS.instances[0]
    assert model.ckpt_dir == ckpt and model.device == "cuda" and engine.sample_rate == 24_000
    clip = tmp_path / "ref.wav"
    clip.write_bytes(b"RIFF")
    clone = VoiceRef(id="v1", name="Ann", mode="clone", engine="chatterbox", reference=clip)
    first = engine.synthesize("Hello there friend.", voice=clone)
    engine.synthesize("Second sentence.", voice=clone)
    assert first.dtype == np.float32 and first.ndim == 1 and len(first) == 2_400 * 3
    assert model.calls[0]["audio_prompt_path"] == str(clip)  # conditioned on the clip once …
    # … and reused for the next sentence
    assert model.calls[1]["audio_prompt_path"] is None and model.calls[1]["conds"] == f"clip:{clip}"
    assert model.calls[0]["exaggeration"] == 0.7 and model.calls[0]["cfg_weight"] == 0.3
    builtin = VoiceRef(id="default", name="Default", mode="builtin", engine="chatterbox")
    engine.synthesize("Back to the default voice.", voice=builtin)
    assert model.calls[2]["conds"] == "builtin"


def test_builtin_voice_needs_conds(tmp_path: Path, standin_package: None) -> None:
    engine = ChatterboxEngine(weights(tmp_path / "ckpt", conds=False)).load()
    with pytest.raises(TTSUnavailable, match=r"conds\.pt missing"):
        engine.synthesize("Hi.", voice=VoiceRef(id="default", name="d", mode="builtin", engine="chatterbox"))
