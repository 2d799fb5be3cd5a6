"""Split `<think>…</think>` reasoning (DeepSeek R1, Qwen3) from the answer while it streams.

Tags may arrive cut across chunks ("<th" + "ink>"), so the splitter holds back only the
shortest tail that could still become a tag and releases everything else at once.
"""

from __future__ import annotations

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def _partial_tag_len(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class ThinkSplitter:
    """Feed text chunks; get back (content, reasoning) that is safe to show now."""

    def __init__(self) -> None:
        self._inside = False
        self._held = ""
        # After </think> models usually emit blank lines; the answer should not start with them.
        self._strip_leading = False

    def feed(self, text: str) -> tuple[str, str]:
        buf = self._held + text
        self._held = ""
        content: list[str] = []
        reasoning: list[str] = []
        while buf:
            tag = CLOSE_TAG if self._inside else OPEN_TAG
            at = buf.find(tag)
            if at >= 0:
                self._emit(buf[:at], content, reasoning)
                buf = buf[at + len(tag) :]
                self._inside = not self._inside
                self._strip_leading = not self._inside
                continue
            keep = _partial_tag_len(buf, tag)
            self._emit(buf[: len(buf) - keep], content, reasoning)
            self._held = buf[len(buf) - keep :]
            break
        return "".join(content), "".join(reasoning)

    def flush(self) -> tuple[str, str]:
        """End of stream: whatever was held back is plain text after all."""
        held, self._held = self._held, ""
        content: list[str] = []
        reasoning: list[str] = []
        self._emit(held, content, reasoning)
        return "".join(content), "".join(reasoning)

    def _emit(self, text: str, content: list[str], reasoning: list[str]) -> None:
        if not text:
            return
        if self._inside:
            reasoning.append(text)
            return
        if self._strip_leading:
            text = text.lstrip()
            if not text:
                return
            self._strip_leading = False
        content.append(text)
