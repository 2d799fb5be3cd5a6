"""One resident SpeechService for the in-process speech tests (real models, loaded once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvis.config import Settings, SpeechSettings
from harvis.speech.service import SpeechService


def make_service(data_dir: Path, **speech: object) -> SpeechService:
    settings = Settings(
        data_dir=data_dir, models_dir=data_dir / "models", speech=SpeechSettings(stt_threads=1, **speech)
    )
    return SpeechService.from_settings(settings)


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> SpeechService:
    return make_service(tmp_path_factory.mktemp("speech-data"))
