"""Router config: the LiteLLM model_list shape loads; bad entries fail, named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harvis.config import Settings
from harvis.llm.router import Router
from harvis.llm.router_config import RouterConfigError, load_config, parse_config
from harvis.llm.types import ChatRequest, Unavailable

SEED = Path(__file__).parent / "configs" / "seed_example.yaml"
ENV = {"OPENAI_API_KEY": "sk-test", "OLLAMA_URL": "http://127.0.0.11:11434"}


def entry(name: str = "m", **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": "ollama/m:1b", **params}}


def test_seed_example_loads_unchanged() -> None:
    config = load_config(SEED, env=ENV)
    by_group = {d.model_name: d for d in config.deployments}
    assert set(by_group) == {"smollm2:135m", "qwen2.5-coder:0.5b", "gpt-4o"}
    small = by_group["smollm2:135m"]
    assert (small.provider, small.upstream_model) == ("ollama", "smollm2:135m")
    assert small.api_base == "http://harvis-ai-ollama-workstation:11434"
    assert small.first_byte_timeout_s == 600 and small.keep_alive == "-1"
    qwen = by_group["qwen2.5-coder:0.5b"]
    assert qwen.api_base == "http://127.0.0.11:11434" and qwen.max_parallel == 2 and qwen.rpm == 60
    cloud = by_group["gpt-4o"]
    assert (cloud.provider, cloud.api_key, cloud.api_base) == (
        "openai",
        "sk-test",
        "https://api.openai.com/v1",
    )
    assert config.fallbacks == {"smollm2:135m": ["gpt-4o"]}
    assert (config.num_retries, config.cooldown_s, config.allowed_fails) == (3, 20, 3)


def test_router_from_settings_with_the_seed_file(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    router = Router.from_settings(Settings(llm_config=SEED))
    assert router.default_model == "smollm2:135m"
    assert router.num_retries == 3 and router.cooldown_s == 20
    ids = {d["id"] for d in router.status()["deployments"]}
    assert "gpt-4o@https://api.openai.com/v1" in ids


def test_missing_api_key_env_var_disables_that_entry_only() -> None:
    config = load_config(SEED, env={"OLLAMA_URL": "http://x:1"})
    (off,) = config.disabled
    assert (off.index, off.model_name, off.disabled) == (
        2,
        "gpt-4o",
        "environment variable OPENAI_API_KEY is not set",
    )
    assert "gpt-4o" not in config.groups and "smollm2:135m" in config.groups
    unset_base = parse_config({"model_list": [entry("b", api_base="os.environ/NO_SUCH_BASE")]}, env={})
    assert unset_base.deployments[0].disabled == "environment variable NO_SUCH_BASE is not set"


async def test_router_names_a_disabled_group_when_asked_for_it() -> None:
    router = Router(Settings().llm, load_config(SEED, env={"OLLAMA_URL": "http://x:1"}))
    assert router.status()["disabled"] == [
        {
            "model": "gpt-4o",
            "entry": "model_list[2]",
            "reason": "environment variable OPENAI_API_KEY is not set",
        }
    ]
    with pytest.raises(Unavailable, match="'gpt-4o' is disabled: environment variable OPENAI_API_KEY"):
        async for _ in router.stream_chat(ChatRequest(model="gpt-4o", messages=[])):
            pass
    await router.close()


def test_wildcard_entries() -> None:
    config = parse_config(
        {
            "model_list": [
                entry("fast", model="ollama/qwen:1b", api_base="http://a:1"),
                {"model_name": "*", "litellm_params": {"model": "ollama/*", "api_base": "http://a:1"}},
                {"model_name": "b/*", "litellm_params": {"model": "ollama_chat/*", "api_base": "http://b:1"}},
            ],
            "router_settings": {"fallbacks": [{"fast": ["b/qwen:7b"]}]},
        },
        env={},
    )
    star, prefixed = config.deployments[1:]
    assert star.wildcard and prefixed.wildcard and config.groups == ["fast"]
    assert (star.group_for("llama3:8b"), prefixed.group_for("llama3:8b")) == ("llama3:8b", "b/llama3:8b")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"model_name": "*", "litellm_params": {"model": "openai/*"}},
            "wildcards list an Ollama node's models",
        ),
        ({"model_name": "*", "litellm_params": {"model": "ollama/qwen"}}, "a wildcard needs one '*'"),
        ({"model_name": "a*b*", "litellm_params": {"model": "ollama/*"}}, "a wildcard needs one '*'"),
        ({"model_name": "*", "litellm_params": {"model": "*"}}, "must be PROVIDER/NAME"),
    ],
)
def test_bad_wildcards_fail_naming_the_entry(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(RouterConfigError, match=r"model_list\[0\]") as info:
        parse_config({"model_list": [raw]}, env={})
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"model_list": [entry(), {"model_name": "x"}]}, "model_list[1] (model_name 'x'): litellm_params"),
        (
            {"model_list": [entry(), entry("bad", model="anthropic/claude")]},
            "model_list[1] (model_name 'bad'): unknown provider 'anthropic'",
        ),
        (
            {"model_list": [entry("nope", model="llama3")]},
            "model_list[0] (model_name 'nope'): litellm_params.model",
        ),
        ({"model_list": [entry("t", rpm="lots")]}, "model_list[0] (model_name 't'): litellm_params.rpm"),
        ({"model_list": [{"model_name": 5, "litellm_params": {"model": "ollama/x"}}]}, "model_list[0]"),
        ({"model_list": [entry("u", api_base="ftp://host")]}, "model_list[0] (model_name 'u'): api_base"),
        (
            {"model_list": [entry("p", max_parallel_requests=0)]},
            "model_list[0] (model_name 'p'): max_parallel",
        ),
        (
            {"model_list": [entry("d", api_base="http://a:1"), entry("d", api_base="http://a:1")]},
            "model_list[1] (model_name 'd'): same model_name and api_base as model_list[0]",
        ),
        (
            {"model_list": [entry("a")], "router_settings": {"fallbacks": [{"a": ["ghost"]}]}},
            "fallbacks[0] ('a'): 'ghost' is not a model_name",
        ),
        (
            {"model_list": [entry("a")], "router_settings": {"num_retries": "many"}},
            "router settings: num_retries",
        ),
        ({"model_list": []}, "model_list: expected a non-empty list"),
        ({"models": []}, "model_list: expected a non-empty list"),
        (["not", "a", "mapping"], "must be a mapping"),
        ({"model_list": ["just a string"]}, "model_list[0]: expected a mapping"),
    ],
)
def test_bad_configs_fail_naming_the_entry(data: Any, expected: str) -> None:
    with pytest.raises(RouterConfigError) as info:
        parse_config(data, env={})
    assert expected in str(info.value)


def test_unknown_litellm_keys_are_accepted() -> None:
    data = {
        "model_list": [
            {
                "model_name": "m",
                "litellm_params": {"model": "ollama/m", "weight": 2, "order": 1},
                "model_info": {"id": "abc", "base_model": "m"},
            }
        ],
        "litellm_settings": {"set_verbose": True, "cache": False},
        "router_settings": {"redis_host": "redis", "enable_pre_call_checks": True},
        "environment_variables": {"X": "1"},
    }
    assert parse_config(data, env={}).deployments[0].upstream_model == "m"


def test_not_yaml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list: [\n  - oops: {")
    with pytest.raises(RouterConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(RouterConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(RouterConfigError, match="cannot read"):
        Router.from_settings(Settings(llm_config=tmp_path / "absent.yaml"))
