"""A Chatterbox checkpoint directory made from chatterbox-tts's own model classes, random weights.

Same files, names, shapes and loading path as the published weights (ve/t3_cfg/s3gen safetensors,
tokenizer.json, conds.pt made by the library's own prepare_conditionals), so every call Harvis
makes runs the library's real code; the audio is noise. Three tensors are set rather than drawn,
because random weights never sample the stop token and would talk for 1000 tokens (40 s) per
sentence: residual channel 0 carries a position clock (0 before speech token `speech_tokens`, large
after; no layer writes to that channel), and the speech head reads it only for the stop token. So
each utterance ends after about `speech_tokens` tokens (25 per second of audio), as a trained
model ends when the text is said.

    python -m tests.support.chatterbox_checkpoint OUT_DIR [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

CLOCK = 0  # the residual channel used as a clock
CLOCK_ON = 1000.0


def _tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models

    # Ids as the library expects: [STOP] = 0 (stop_text_token), [START] = 255 (start_text_token),
    # everything below 704 (the English model's text vocabulary).
    vocab = {"[STOP]": 0, "[UNK]": 1, "[SPACE]": 2, "[PAD]": 3, "[SEP]": 4, "[CLS]": 5, "[MASK]": 6}
    for i, ch in enumerate(sorted({chr(c) for c in range(33, 127)})):
        vocab[ch] = 10 + i
    vocab["[START]"] = 255
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tokenizer.add_special_tokens(["[START]", "[STOP]", "[UNK]", "[SPACE]"])
    tokenizer.save(str(path))


def _shape_t3(t3: object, speech_tokens: int) -> None:
    import torch

    with torch.no_grad():
        for emb in (t3.speech_emb, t3.text_emb, t3.text_pos_emb.emb):  # type: ignore[attr-defined]
            emb.weight[:, CLOCK] = 0
        clock = t3.speech_pos_emb.emb.weight  # type: ignore[attr-defined]
        clock[:, CLOCK] = 0
        clock[speech_tokens:, CLOCK] = CLOCK_ON
        for layer in t3.tfmr.layers:  # type: ignore[attr-defined]
            layer.self_attn.o_proj.weight[CLOCK, :] = 0
            layer.mlp.down_proj.weight[CLOCK, :] = 0
        head = t3.speech_head.weight  # type: ignore[attr-defined]
        stop = t3.hp.stop_speech_token  # type: ignore[attr-defined]
        head[stop, :] = 0
        head[stop, CLOCK] = 1.0


def reference_clip(path: Path, seconds: float = 8.0, rate: int = 24_000) -> Path:
    """A voiced, speech-like test clip (a gliding harmonic tone with syllable-rate bursts)."""
    import wave

    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t))
    pcm = (0.3 * voice * envelope / np.max(np.abs(voice))).astype(np.float32)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((pcm * 32767).astype("<i2").tobytes())
    return path


def make(out: Path, *, speech_tokens: int = 50, seed: int = 0, device: str = "cpu") -> Path:
    """Write the checkpoint into `out` (created); returns it."""
    import torch
    from chatterbox.models.s3gen import S3Gen
    from chatterbox.models.t3 import T3
    from chatterbox.models.voice_encoder import VoiceEncoder
    from chatterbox.tts import ChatterboxTTS
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)

    def save(module: torch.nn.Module, name: str) -> None:
        state = {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}
        save_file(state, str(out / name))

    save(VoiceEncoder(), "ve.safetensors")
    t3 = T3()
    _shape_t3(t3, speech_tokens)
    save(t3, "t3_cfg.safetensors")
    del t3
    save(S3Gen(), "s3gen.safetensors")
    _tokenizer(out / "tokenizer.json")
    # The built-in voice, made the library's way from a clip.
    model = ChatterboxTTS.from_local(out, device)
    model.prepare_conditionals(str(reference_clip(out / ".builtin-voice.wav")), exaggeration=0.5)
    model.conds.save(out / "conds.pt")
    (out / ".builtin-voice.wav").unlink()
    (out / "README.json").write_text(json.dumps({"random_weights": True, "speech_tokens": speech_tokens}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--speech-tokens", type=int, default=50)
    args = parser.parse_args()
    print(make(args.out, speech_tokens=args.speech_tokens, device=args.device))


if __name__ == "__main__":
    main()
