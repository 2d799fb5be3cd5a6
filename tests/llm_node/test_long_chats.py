"""One request must not hold the node's single slot for everyone: a 1,000-message chat is
shortened to the context in one pass, longer chats are refused with a 400, and a client that
leaves a non-streamed answer stops its generation (a real `harvis llm-node` process)."""

from __future__ import annotations

import httpx

from tests.support.llm_node import SMALL_MODEL, metric, tokens_after_leaving

RENDERS = "harvis_llm_node_prompt_renders_total"


def one_word_chat(n: int) -> list[dict[str, str]]:
    words = ("apple", "river", "stone", "cloud", "green")
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": words[i % len(words)]} for i in range(n)
    ]


def test_a_thousand_message_chat_is_shortened_in_one_pass(http: httpx.Client) -> None:
    # Unloaded first, so that it loads with this context (a resident bigger one would be reused).
    assert http.post("/api/generate", json={"model": SMALL_MODEL, "keep_alive": 0}).status_code == 200
    before = metric(http, RENDERS, model=SMALL_MODEL)
    body = {
        "model": SMALL_MODEL,
        "messages": [*one_word_chat(999), {"role": "user", "content": "Say one word."}],
        "stream": False,
        "options": {"num_ctx": 512, "num_predict": 2, "temperature": 0},
    }
    r = http.post("/api/chat", json=body)
    assert r.status_code == 200, r.text
    # Filled to the budget (512 less the 2 answer tokens), less at most a few one-word messages.
    assert 512 - 2 - 40 <= r.json()["prompt_eval_count"] <= 512 - 2, r.json()["prompt_eval_count"]
    renders = metric(http, RENDERS, model=SMALL_MODEL) - before
    # Re-rendering once per dropped message took ~1,000 renders (80 s held on the one slot).
    assert 1 <= renders <= 6, f"{renders:.0f} chat-template renders to shorten one prompt"


def test_too_many_messages_or_too_long_a_prompt_is_a_400(http: httpx.Client) -> None:
    body = {"model": SMALL_MODEL, "messages": one_word_chat(1001), "stream": False}
    r = http.post("/api/chat", json=body)
    assert r.status_code == 400 and "too many messages" in r.json()["error"], r.text
    huge = {"model": SMALL_MODEL, "prompt": "word " * 300_000, "stream": False}
    r = http.post("/api/generate", json=huge)
    assert r.status_code == 400 and "too long" in r.json()["error"], r.text
    # Under the character cap, over the token cap (each " word" is one token): counted once, refused.
    many = {
        "model": SMALL_MODEL,
        "messages": [{"role": "user", "content": "word " * 80_000}],
        "stream": False,
    }
    r = http.post("/api/chat", json=many)
    assert r.status_code == 400 and "tokens long; at most" in r.json()["error"], r.text
    assert http.get("/api/version").status_code == 200


def test_a_non_streamed_answer_stops_when_its_client_leaves(http: httpx.Client) -> None:
    body = {
        "model": SMALL_MODEL,
        "raw": True,
        "prompt": "1, 2, 3, 4, 5, 6, 7, 8,",
        "stream": False,
        "options": {"temperature": 0, "num_predict": 1500},
    }
    # The client is gone before any byte of the answer: the node must stop the token loop.
    generated = tokens_after_leaving(http, str(http.base_url), "/api/generate", body)
    assert generated < 1500 / 2, f"{generated:.0f} tokens: the loop ran on after the client left"
