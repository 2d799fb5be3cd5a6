"""Models that come from a model hub, a URL or a directory (GPU deployments), not from packages.

A hub file is addressed as REPO/FILE at a revision and fetched from
``{endpoint}/{repo}/resolve/{revision}/{file}`` (the Hugging Face layout; any mirror that
serves the same paths works, including a plain HTTP server).

What each file must be is pinned here where it is known (`sha256`, `size`, `revision`). Where the
catalogue has no pinned value, the hub's own metadata for the revision decides, read from the
HEAD answer of the file at that revision: `X-Repo-Commit` (the commit the revision names, so all
files come from one commit and the manifest records it), `X-Linked-Etag` / `X-Linked-Size` (the
sha256 and size of an LFS file) or `ETag` (the git blob id of a small file). A file nothing vouches
for is refused.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    filename: str  # name inside the model's cache directory (and inside the hub repo)
    url: str = ""  # a full http(s):// or file:// URL; empty = from the hub repo
    sha256: str = ""  # pinned; empty = the hub's LFS sha256 at the revision
    size: int = 0  # pinned; 0 = the hub's size at the revision


@dataclass(frozen=True)
class RemoteModel:
    name: str
    kind: str
    description: str
    files: tuple[RemoteFile, ...]
    repo: str = ""  # hub repository, e.g. "ResembleAI/chatterbox"
    # A commit id pins the files; a branch name is resolved to its commit once per fetch.
    revision: str = "main"
    license: str = ""
    approx_bytes: int = 0  # for `models list` before anything is fetched

    def url_of(self, file: RemoteFile, endpoint: str, revision: str = "") -> str:
        if file.url:
            return file.url
        return f"{endpoint.rstrip('/')}/{self.repo}/resolve/{revision or self.revision}/{file.filename}"

    @property
    def pinned(self) -> bool:
        """Every file's sha256 and size are in the catalogue (no trust in the hub needed)."""
        return all(f.sha256 and f.size for f in self.files)


# The files ChatterboxTTS.from_local reads (chatterbox-tts 0.1.7). Their commit and hashes could not
# be read from where this was written, so the hub's metadata at the fetched commit decides (above);
# pin them here (or pass --revision COMMIT) once known.
CHATTERBOX_FILES = ("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json", "conds.pt")

REMOTE: dict[str, RemoteModel] = {
    m.name: m
    for m in (
        RemoteModel(
            name="chatterbox",
            kind="tts",
            description="Chatterbox TTS (English, zero-shot voice cloning; CUDA GPU)",
            repo="ResembleAI/chatterbox",
            files=tuple(RemoteFile(n) for n in CHATTERBOX_FILES),
            license="MIT",
            approx_bytes=3_200_000_000,
        ),
        RemoteModel(
            name="whisper-large-v3-turbo",
            kind="stt",
            description="Whisper large-v3-turbo, CTranslate2 float16 (multilingual; CUDA GPU)",
            repo="mobiuslabsgmbh/faster-whisper-large-v3-turbo",
            # What faster-whisper itself reads from such a directory.
            files=tuple(
                RemoteFile(n)
                for n in (
                    "config.json",
                    "model.bin",
                    "preprocessor_config.json",
                    "tokenizer.json",
                    "vocabulary.json",
                )
            ),
            license="MIT",
            approx_bytes=1_620_000_000,
        ),
    )
}
