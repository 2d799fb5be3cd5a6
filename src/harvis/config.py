"""One settings object, read from the environment.

The names users rely on are flat (``OLLAMA_URL``, ``DATABASE_URL``, ``HARVIS_DATA_DIR`` …);
everything else lives in a section and is set as ``HARVIS_<SECTION>__<FIELD>``, for
example ``HARVIS_LLM__FIRST_BYTE_TIMEOUT_S=600``. Build it once (``Settings()``) and pass
it, or one section of it, into constructors: deep modules never read the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_commas(value: Any) -> Any:
    """The environment gives lists as comma-separated text; split them here, once."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _name_paths(value: Any) -> Any:
    """``NAME=PATH,NAME2=PATH2`` -> {NAME: PATH}."""
    if not isinstance(value, str):
        return value
    out: dict[str, str] = {}
    for item in _split_commas(value):
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"entry {item!r} is not NAME=PATH")
        out[name.strip()] = path.strip()
    return out


# A list setting: `A,B,C` in the environment, a list everywhere else.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
NamePaths = Annotated[dict[str, Path], NoDecode, BeforeValidator(_name_paths)]


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "harvis"


class LLMSettings(BaseModel):
    """How the backend reaches LLM nodes (Ollama API) and cloud models."""

    # The best bundled model (benchmarks/quality.py); the tests set smollm2:135m, which is fast.
    default_model: str = "qwen2.5-coder:1.5b"
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
    # Context (tokens) a model is loaded with; a request's larger options.num_ctx reloads it.
    num_ctx: int = 2048
    # How long a model stays loaded after a request that does not say (Ollama's default "5m");
    # Go duration or seconds, negative = forever, 0 = unload after each request.
    keep_alive: str = "5m"
    # Extra catalogue entries: NAME=PATH.gguf, comma separated.
    extra_models: NamePaths = Field(default_factory=dict)
    # Models to load at start-up, comma separated (none = load on first use); /health/ready
    # answers 503 until they are loaded.
    preload: CommaList = Field(default_factory=list)


class SpeechSettings(BaseModel):
    """Speech engines: all loaded once per process and kept resident."""

    device: str = "cpu"  # cpu | cuda
    # With device=cuda where CUDA cannot be used: run on the CPU (and report it) instead of failing.
    cpu_fallback: bool = False
    stt_model: str = "whisper-tiny.en"  # catalogue name or a CTranslate2 directory
    stt_compute_type: str = "default"  # default = float16 on CUDA, int8 on the CPU
    stt_threads: int = 1
    tts_engine: str = "piper"  # piper | chatterbox
    tts_voice: str = "joe"
    # onnxruntime threads for Piper. Its default (every core, busy-waiting) starves the LLM that
    # generates beside it during a streamed voice turn.
    tts_threads: int = 1
    preload: bool = False  # load at start-up instead of on first use
    max_upload_mb: int = 25
    max_audio_s: float = 120.0
    stt_language: str | None = None  # None = detect (multilingual models); tiny.en is English only
    stt_beam_size: int = 1  # 1 = greedy: the fastest on CPU, and enough for tiny.en
    vad_threshold: float = 0.5  # speech probability above which a 32 ms window counts as speech
    vad_pad_s: float = 0.2  # silence kept on each side of the speech that VAD found
    # Voice library: reference clips (seconds, megabytes) and the consent statement the UI shows.
    voice_min_s: float = 5.0
    voice_max_s: float = 60.0
    voice_max_mb: int = 10
    voice_max_per_user: int = 20
    consent_text: str = (
        "I am the person in this recording, or I have their permission to use their voice here."
    )
    # Chatterbox (GPU): a directory holding ve/t3/s3gen weights and tokenizer.json
    # ("" = HARVIS_MODELS_DIR/chatterbox, filled by `harvis models fetch chatterbox`).
    chatterbox_dir: str = ""
    chatterbox_exaggeration: float = 0.5  # 0.25–2.0; higher = more expressive
    chatterbox_cfg_weight: float = 0.5  # 0–1; lower = slower, more deliberate pacing
    # A failed model load is retried by a later request only after this many seconds.
    load_retry_s: float = 30.0
    # Model hub for `harvis models fetch` of hub-hosted models (GPU clusters with network).
    hub_endpoint: str = "https://huggingface.co"
    # `harvis models verify --speed`: below this read speed (MB/s) the emptyDir copy is advised.
    min_read_mb_s: float = 200.0


class PipelineSettings(BaseModel):
    """The voice turn and realtime voice sessions."""

    # A sentence shorter than this (characters) waits to be spoken with the next one.
    clause_min_chars: int = 24
    # Cut at a comma/semicolon/colon only once this many characters have gathered.
    clause_weak_min_chars: int = 60
    # Speak what gathered (up to a word boundary) after this many seconds without a boundary.
    clause_max_wait_s: float = 1.2
    # Say `filler_text` when the first answer token is later than this (seconds); -1 = never.
    filler_after_s: float = 2.5
    filler_text: str = "One moment."
    # Prepended to every voice turn's messages; "" = none.
    system_prompt: str = (
        # Not "answer in plain spoken sentences": with that, small models describe a tool
        # instead of calling it.
        "You are Harvis, a voice assistant. Keep answers short unless asked for detail. "
        "Your words are spoken aloud: no markdown, lists or code."
    )
    max_answer_tokens: int = 400  # num_predict for voice answers
    # An answer still streaming is saved this often (a crash loses at most this much of it);
    # well under the housekeeping's 60 s after which a silent stream counts as orphaned.
    progress_every_s: float = Field(default=5.0, gt=0.0, le=30.0)
    # Sampling for voice answers: a small model on a CPU picks its tools and facts more surely
    # a little cooler than the usual 0.8; a seed makes answers repeatable (tests, demos).
    temperature: float = Field(default=0.3, ge=0.0, le=2.0)
    seed: int | None = None
    # Realtime (WebSocket) sessions, 16 kHz PCM16 in.
    vad_threshold: float = 0.5  # Silero speech probability that counts as speech
    speech_start_ms: int = 96  # this much speech in a row starts an utterance (and barges in)
    end_of_turn_ms: int = 700  # this much silence after speech ends the user's turn
    max_utterance_s: float = 30.0  # a longer utterance is cut and answered
    # The low-latency realtime path (False: the path before it, kept for comparison): speech is
    # transcribed at the user's pauses while they talk (partial transcripts), an answer starts
    # on the transcript while the pause lasts (dropped unheard and unsaved if they go on), the
    # end-of-turn wait follows whether the words look finished, and the first clause is short.
    low_latency: bool = True
    pause_ms: int = 200  # a pause this long inside an utterance transcribes what was said so far
    # At a pause, transcribe all of the utterance so far (True) or only the speech since the
    # previous pause (False): the same Whisper cost, but fragments are misheard more.
    partial_whole: bool = True
    # The wait when the transcript looks finished ("… today?"). Off (= end_of_turn_ms) by
    # default: Whisper punctuates a fragment before a thinking pause as a whole sentence ("Can
    # you tell me?"), so a shorter wait cuts users off (benchmarks/RESULTS.md, voice_latency).
    end_of_turn_short_ms: int = 700
    end_of_turn_long_ms: int = 1000  # the wait when it does not ("I want to know the")
    speculate: bool = True  # start the answer during the pause (low_latency only)
    first_clause_min_chars: int = 10  # low_latency: the first sentence may be this short…
    first_clause_weak_min_chars: int = 40  # …and cut at a comma this early


class WyomingSettings(BaseModel):
    """The Wyoming server (Home Assistant's STT, TTS and conversation protocol; no auth)."""

    enabled: bool = False  # `harvis serve` runs it beside the HTTP API (or `harvis serve --wyoming`)
    uri: str = "tcp://127.0.0.1:10300"  # loopback unless told otherwise: Wyoming has no auth
    zeroconf: str = ""  # announce over mDNS under this name ("" = no announcement)
    user: str = ""  # the account whose chats `handle` keeps ("" = the first admin)
    model: str = ""  # the LLM `handle` answers with ("" = the router's default)
    max_connections: int = 32
    max_header_bytes: int = 64 * 1024  # one event's JSON line
    max_data_bytes: int = 256 * 1024  # its additional JSON data
    max_payload_bytes: int = 1024 * 1024  # its binary payload (an audio chunk)
    max_text_chars: int = 10_000  # text to synthesize or to answer, per request
    idle_timeout_s: float = 300.0  # a connection silent this long is closed
    conversations: int = 1000  # Home Assistant conversation ids remembered (oldest forgotten)


class ToolSettings(BaseModel):
    """Tools the assistant may use while it answers (text chats and voice turns)."""

    enabled: bool = True  # False: answers never call tools
    max_rounds: int = 4  # tool rounds per answer; past that the model must answer in words
    timeout_s: float = 10.0  # one tool call; past that the model is told it did not answer
    cue_after_s: float = 1.0  # a voice turn says `cue_text` when a tool takes longer than this
    cue_text: str = "Let me check."
    max_timers: int = Field(default=50, ge=1)  # active timers and reminders per user
    # Told the model (in the system message) when tools are offered: small models otherwise
    # call the same tool again and again instead of answering with its result.
    instructions: str = (
        "When a tool can help, call it at once instead of saying that you will. After a tool has "
        "answered, do not call it again for the same thing: tell the user the result in plain words."
    )
    # MCP servers users may be given (an admin enables them per user): a JSON file in the
    # usual {"mcpServers": {name: {"command", "args", "env"} | {"url"}}} shape; "" = none.
    mcp_config: str = ""


class AuthSettings(BaseModel):
    token_ttl_s: int = 7 * 24 * 3600
    login_attempts_per_minute: int = Field(default=10, ge=1)  # failures per account and address
    login_failures_per_address_per_minute: int = Field(default=30, ge=1)  # any accounts
    login_failures_per_account_per_minute: int = Field(default=30, ge=1)  # from any addresses
    # argon2 checks at once (each takes a core for ~0.1 s), and how many more may wait.
    password_hash_concurrency: int = Field(default=2, ge=1)
    password_hash_queue: int = Field(default=8, ge=0)
    allow_signup: bool = False  # after the first (admin) account
    cors_origins: CommaList = Field(default_factory=list)  # comma separated; none = no CORS


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
    # Proxies whose X-Forwarded-For is believed (the login limiter keys on the client address).
    # None by default: any local process could otherwise pick its own address. Set 127.0.0.1
    # for an nginx beside the backend; in Kubernetes the pod CIDR of the frontend.
    forwarded_allow_ips: CommaList = Field(default_factory=list)

    llm: LLMSettings = LLMSettings()
    node: NodeSettings = NodeSettings()
    speech: SpeechSettings = SpeechSettings()
    pipeline: PipelineSettings = PipelineSettings()
    auth: AuthSettings = AuthSettings()
    wyoming: WyomingSettings = WyomingSettings()
    tools: ToolSettings = ToolSettings()

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'harvis.db'}"
