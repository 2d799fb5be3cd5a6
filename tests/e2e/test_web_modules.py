"""The page's own modules, run in the browser on inputs the network can produce."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.support.processes import Proc


def test_sse_reader_handles_events_split_anywhere(page: Page, backend: Proc) -> None:
    """Network reads cut events (and UTF-8 characters) at arbitrary points."""
    page.goto(backend.url + "/")
    events = page.evaluate(
        """async () => {
          const { readEvents } = await import("/js/sse.js");
          const text = 'event: session\\ndata: {"session_id":"s1"}\\n\\n'
            + 'event: token\\r\\ndata: {"text":"caf\\u00e9 \\ud83d\\ude00"}\\r\\n\\r\\n'
            + ': a comment line, ignored\\n\\n'
            + 'event: reasoning\\ndata: first line\\ndata: second line\\n\\n'
            + 'event: done\\ndata: {"status":"complete"}';  // no blank line before the end
          const bytes = new TextEncoder().encode(text);
          const results = [];
          for (const size of [1, 3, 7, bytes.length]) {
            const body = new ReadableStream({
              start(controller) {
                for (let i = 0; i < bytes.length; i += size) controller.enqueue(bytes.slice(i, i + size));
                controller.close();
              },
            });
            const seen = [];
            for await (const e of readEvents(body)) seen.push(e);
            results.push(seen);
          }
          return results;
        }"""
    )
    expected = [
        {"event": "session", "data": {"session_id": "s1"}},
        {"event": "token", "data": {"text": "café 😀"}},
        {"event": "reasoning", "data": "first line\nsecond line"},
        {"event": "done", "data": {"status": "complete"}},
    ]
    for seen in events:
        assert seen == expected


def test_error_words_for_people(page: Page, backend: Proc) -> None:
    page.goto(backend.url + "/")
    words = page.evaluate(
        """async () => {
          const { describeError, ApiError } = await import("/js/api.js");
          return {
            down: describeError({ code: "llm_unavailable", message: "node gone" }),
            busy: describeError(new ApiError(503, "no_capacity", "all busy", 7)),
            limited: describeError(new ApiError(429, "rate_limited", "slow down", 30)),
            other: describeError(new ApiError(404, "session_not_found", "no such session")),
          };
        }"""
    )
    assert words["down"].startswith("The language model is not reachable right now")
    assert "try again in 7 s" in words["busy"]
    assert "Wait 30 s" in words["limited"]
    assert words["other"] == "no such session"


def test_a_message_shows_reasoning_folded_and_how_it_ended(page: Page, backend: Proc) -> None:
    page.goto(backend.url + "/")
    views = page.evaluate(
        """async () => {
          const { MessageView } = await import("/js/message-view.js");
          const show = (m) => {
            const v = new MessageView(m);
            document.body.append(v.root);
            const details = v.root.querySelector("details");
            return {
              reasoningShown: !details.hidden, reasoningOpen: details.open,
              summary: details.querySelector("summary").textContent,
              reasoning: details.querySelector(".reasoning-text").textContent,
              body: v.root.querySelector(".message-body").textContent,
              footer: v.root.querySelector(".message-meta").textContent,
              status: v.root.dataset.status,
            };
          };
          return {
            thought: show({ role: "assistant", content: "**42**", reasoning: "<think>-free steps",
                            status: "complete", model: "m1", served_by: "m1@node",
                            timings: { ttft_ms: 120.4 } }),
            failed: show({ role: "assistant", content: "part", status: "error", error: "node went away" }),
            plain: show({ role: "user", content: "**not markdown**" }),
          };
        }"""
    )
    thought = views["thought"]
    assert thought["reasoningShown"] and not thought["reasoningOpen"], "reasoning starts folded"
    assert (thought["summary"], thought["reasoning"]) == ("Reasoning", "<think>-free steps")
    assert thought["body"] == "42"
    assert "m1@node" in thought["footer"] and "first token 120 ms" in thought["footer"]
    failed = views["failed"]
    assert not failed["reasoningShown"]
    assert failed["status"] == "error"
    assert "Failed" in failed["footer"] and "node went away" in failed["footer"]
    assert views["plain"]["body"] == "**not markdown**", "what a person typed is shown as typed"


def test_markdown_rendering_is_safe_and_readable(page: Page, backend: Proc) -> None:
    """The renderer itself, in the browser, on crafted Markdown (model output is untrusted)."""
    page.goto(backend.url + "/")
    result = page.evaluate(
        """async () => {
          const { renderMarkdown } = await import("/js/markdown.js");
          const box = document.createElement("div");
          box.append(renderMarkdown([
            "# Title", "Some **bold**, *italic* and `x < y` code.", "",
            "- one", "- two", "  - nested", "", "1. first", "2. second", "",
            "```js", "const a = '<b>';", "```", "",
            "[good](https://example.com/a?b=1) [bad](javascript:alert(1)) [data](data:text/html,hi)",
            "<img src=x onerror=\\"window.__md = 1\\"><script>window.__md = 2</script>",
            "> quoted", "bare https://example.org/path.", "",
            "A table:", "| Name | Value |", "|------|------:|", "| **a** | <b>1</b> |", "| b | 2 |",
          ].join("\\n")));
          document.body.append(box);
          const links = [...box.querySelectorAll("a")];
          return {
            heading: box.querySelector("h3")?.textContent,
            strong: box.querySelector("strong")?.textContent,
            em: box.querySelector("em")?.textContent,
            inlineCode: box.querySelector("p code")?.textContent,
            bullets: [...box.querySelectorAll("ul > li")].map((li) => li.firstChild.textContent),
            nested: box.querySelector("ul ul li")?.textContent,
            ordered: [...box.querySelectorAll("ol > li")].map((li) => li.textContent),
            code: box.querySelector("pre code")?.textContent,
            codeClass: box.querySelector("pre code")?.className,
            links: links.map((a) => [a.textContent, a.getAttribute("href"), a.rel, a.target]),
            quote: box.querySelector("blockquote")?.textContent.trim(),
            dangerous: box.querySelectorAll("img, script, iframe, b, [onerror]").length,
            tableHead: [...box.querySelectorAll("th")].map((c) => c.textContent),
            tableRows: [...box.querySelectorAll("tbody tr")].map((r) => [...r.cells].map((c) => c.innerHTML)),
            text: box.textContent,
          };
        }"""
    )
    assert result["heading"] == "Title"
    assert (result["strong"], result["em"], result["inlineCode"]) == ("bold", "italic", "x < y")
    assert result["bullets"][0] == "one" and result["bullets"][1].startswith("two")
    assert result["nested"] == "nested"
    assert result["ordered"] == ["first", "second"]
    assert result["code"] == "const a = '<b>';" and result["codeClass"] == "language-js"
    links = {text: (href, rel, target) for text, href, rel, target in result["links"]}
    assert links["good"] == ("https://example.com/a?b=1", "noopener noreferrer nofollow", "_blank")
    assert "bad" not in links and "data" not in links, "only http(s) links may become links"
    assert links["https://example.org/path"][0] == "https://example.org/path"
    assert result["quote"] == "quoted"
    assert result["dangerous"] == 0
    assert result["tableHead"] == ["Name", "Value"]
    assert result["tableRows"] == [["<strong>a</strong>", "&lt;b&gt;1&lt;/b&gt;"], ["b", "2"]]
    assert '<img src=x onerror="window.__md = 1">' in result["text"]
    assert page.evaluate("window.__md") is None


def test_a_message_shows_its_tool_calls_folded_live_and_saved(page: Page, backend: Proc) -> None:
    page.goto(backend.url + "/")
    shown = page.evaluate(
        """async () => {
          const { MessageView } = await import("/js/message-view.js");
          const read = (v) => {
            v.render();
            const block = v.root.querySelector("details.tools");
            return {
              hidden: block.hidden, open: block.open,
              summary: block.querySelector("summary").textContent,
              items: [...block.querySelectorAll("li")].map((li) => li.textContent),
              failed: block.querySelectorAll("li.tool-failed").length,
              html: block.querySelectorAll("b").length,
              footer: v.root.querySelector(".message-meta").textContent,
            };
          };
          const saved = new MessageView({
            role: "assistant", content: "It is 408.", status: "complete",
            tool_calls: [
              { name: "calculate", arguments: { expression: "12*34" }, result: "12*34 = 408", ok: true,
                ms: 3.2 },
            ],
          });
          const live = new MessageView({ role: "assistant", status: "streaming" });
          live.toolCall({ round: 1, index: 0, name: "lookup", arguments: { q: "<b>x</b>" } });
          const running = read(live);
          live.toolResult({ round: 1, index: 0, result: "error: <b>down</b>", ok: false, ms: 10 });
          const notice = "The model used tools 4 times; it answers without more.";
          live.toolNotice({ code: "tool_rounds_exhausted", message: notice });
          live.update({ status: "complete" });
          const plain = new MessageView({ role: "assistant", content: "Hi", status: "complete" });
          return { saved: read(saved), running, ended: read(live), plain: read(plain) };
        }"""
    )
    assert shown["saved"]["hidden"] is False and shown["saved"]["open"] is False  # folded
    assert shown["saved"]["summary"] == "1 tool call"
    assert shown["saved"]["items"] == ['calculate({"expression":"12*34"})→ 12*34 = 408 · 3 ms']
    assert shown["running"]["summary"] == "1 tool call…" and shown["running"]["items"][0].endswith("running…")
    ended = shown["ended"]
    assert ended["failed"] == 1 and ended["html"] == 0  # the model's text is never HTML
    assert ended["items"] == ['lookup({"q":"<b>x</b>"})→ error: <b>down</b> · 10 ms']
    assert "answers without more" in ended["footer"]
    assert shown["plain"]["hidden"] is True
