"""The sliding window itself, on a clock the test moves."""

from __future__ import annotations

from harvis.api.ratelimit import SlidingWindowLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_slides_and_keys_are_independent() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(2, 60.0, clock=clock)
    limiter.hit("a")
    clock.now += 10
    limiter.hit("a")
    assert limiter.retry_after("a") == 50.0
    assert limiter.retry_after("b") is None
    clock.now += 50.5  # the first hit has left the window
    assert limiter.retry_after("a") is None
    limiter.hit("a")
    assert limiter.retry_after("a") is not None
    limiter.reset("a")
    assert limiter.retry_after("a") is None


def test_memory_is_bounded() -> None:
    limiter = SlidingWindowLimiter(1, 60.0, max_keys=100, clock=Clock())
    for i in range(1000):
        limiter.hit(f"user{i}")
    assert len(limiter._hits) == 100
    assert limiter.retry_after("user999") is not None and limiter.retry_after("user0") is None
