"""One settings object, read from the environment.

The names users rely on are flat (``OLLAMA_URL``, ``DATABASE_URL``, ``HARVIS_DATA_DIR`` …);
everything else lives in a section and is set as ``HARVIS_<SECTION>__<FIELD>``, for
example ``HARVIS_LLM__FIRST_BYTE_TIMEOUT_S=600``. Build it once (``Settings()``) and pass
it, or one section of it, into constructors: deep modules never read the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "harvis"


class LLMSettings(BaseModel):
    """How the backend reaches LLM nodes (Ollama API) and cloud models."""

    default_model: str = "smollm2:135m"
    connect_timeout_s: float = 5.0
    # Long enough to cover a cold model load on the node: the node keeps loading even if
    # we give up, so a short value here only wastes the load.
    first_byte_timeout_s: float = 300.0
    chunk_timeout_s: float = 60.0
    # Sent with every request; Ollama's own default is "5m". "-1" = keep loaded forever.
    keep_alive: str = "5m"
    # Voice turns pin their model so the next turn does not pay a load.
    voice_keep_alive: str = "-1"
    # Router defaults when the config file does not say otherwise.
    num_retries: int = 2
    cooldown_s: float = 30.0
    allowed_fails: int = 2
    probe_interval_s: float = 10.0
    max_parallel_per_deployment: int = 4
    # How long a request waits for a free deployment before it gets 503 + Retry-After.
    queue_wait_s: float = 10.0
    # Scale-out: a headless Service name whose A records are Ollama nodes ("" = off).
    discover_dns: str = ""
    discover_port: int = 11434
    discover_interval_s: float = 30.0


class NodeSettings(BaseModel):
    """The embedded LLM node (``harvis llm-node``)."""

    # llama.cpp threads; 0 = auto (half the cores, at least 1: see notes on contention).
    threads: int = 0
    # Requests waiting beyond this many get 503.
    max_queue: int = 8
    num_ctx: int = 2048
    keep_alive: str = "5m"
    # Extra catalogue entries: NAME=PATH.gguf, comma separated.
    extra_models: str = ""


class SpeechSettings(BaseModel):
    """Speech engines: all loaded once per process and kept resident."""

    device: str = "cpu"  # cpu | cuda
    stt_model: str = "whisper-tiny.en"  # catalogue name or a CTranslate2 directory
    stt_compute_type: str = "int8"
    stt_threads: int = 1
    tts_engine: str = "piper"  # piper | chatterbox
    tts_voice: str = "joe"
    preload: bool = False  # load at start-up instead of on first use
    max_upload_mb: int = 25
    max_audio_s: float = 120.0


class PipelineSettings(BaseModel):
    """The voice turn."""

    clause_min_chars: int = 24
    clause_max_wait_s: float = 1.2
    filler_after_s: float = 2.5
    filler_text: str = "One moment."


class AuthSettings(BaseModel):
    token_ttl_s: int = 7 * 24 * 3600
    login_attempts_per_minute: int = 10
    allow_signup: bool = False  # after the first (admin) account
    cors_origins: str = ""  # comma separated; empty = no CORS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HARVIS_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    # ML model cache (the NFS volume in the workstation topology).
    models_dir: Path | None = None
    secret_key: SecretStr | None = None
    ollama_url: str | None = Field(default=None, validation_alias=AliasChoices("OLLAMA_URL"))
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    llm_config: Path | None = None  # router YAML (LiteLLM model_list shape)
    log_level: str = "info"

    llm: LLMSettings = LLMSettings()
    node: NodeSettings = NodeSettings()
    speech: SpeechSettings = SpeechSettings()
    pipeline: PipelineSettings = PipelineSettings()
    auth: AuthSettings = AuthSettings()

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'harvis.db'}"
