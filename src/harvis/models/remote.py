"""Models that come from a model hub or a URL (GPU clusters with network), not from packages.

A hub file is addressed as REPO/FILE at a revision and fetched from
``{endpoint}/{repo}/resolve/{revision}/{file}`` (the Hugging Face layout; any mirror that
serves the same paths works, including a plain HTTP server).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    filename: str  # name inside the model's cache directory
    url: str = ""  # a full http(s):// or file:// URL; empty = from the hub repo
    sha256: str = ""  # checked when known
    size: int = 0


@dataclass(frozen=True)
class RemoteModel:
    name: str
    kind: str
    description: str
    files: tuple[RemoteFile, ...]
    repo: str = ""  # hub repository, e.g. "ResembleAI/chatterbox"
    revision: str = "main"
    license: str = ""

    def url_of(self, file: RemoteFile, endpoint: str) -> str:
        if file.url:
            return file.url
        return f"{endpoint.rstrip('/')}/{self.repo}/resolve/{self.revision}/{file.filename}"


REMOTE: dict[str, RemoteModel] = {
    m.name: m
    for m in (
        RemoteModel(
            name="chatterbox",
            kind="tts",
            description="Chatterbox TTS weights (zero-shot voice cloning; needs a CUDA GPU), ~3.2 GB",
            repo="ResembleAI/chatterbox",
            files=(
                RemoteFile("ve.safetensors", size=5_695_784),
                RemoteFile("t3_cfg.safetensors", size=2_129_653_744),
                RemoteFile("s3gen.safetensors", size=1_056_484_620),
                RemoteFile("tokenizer.json", size=25_470),
                RemoteFile("conds.pt", size=107_374),
            ),
            license="MIT",
        ),
    )
}
