"""What stands between the login form and the CPU: every password check costs an argon2 hash,
so failures are limited per account and address, per address (rotating usernames), per
account (rotating addresses), and the hashing itself runs a few at a time with a short queue;
past that a sign-in is refused at once (429) rather than queued behind an attacker's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from harvis.api.ratelimit import SlidingWindowLimiter
from harvis.config import AuthSettings
from harvis.errors import RateLimited

T = TypeVar("T")
WINDOW_S = 60.0


class LoginGuard:
    def __init__(self, auth: AuthSettings) -> None:
        self._pair = SlidingWindowLimiter(auth.login_attempts_per_minute, WINDOW_S)
        self._address = SlidingWindowLimiter(auth.login_failures_per_address_per_minute, WINDOW_S)
        self._account = SlidingWindowLimiter(auth.login_failures_per_account_per_minute, WINDOW_S)
        self._slots = asyncio.Semaphore(auth.password_hash_concurrency)
        self._max_waiting = auth.password_hash_concurrency + auth.password_hash_queue
        self._waiting = 0

    def check(self, account: str, address: str) -> None:
        waits = [
            self._pair.retry_after(f"{account}|{address}"),
            self._address.retry_after(address),
            self._account.retry_after(account),
        ]
        if any(w is not None for w in waits):
            wait = max(w for w in waits if w is not None)
            raise RateLimited("too many login attempts; try again later", retry_after=wait)

    def failed(self, account: str, address: str) -> None:
        self._pair.hit(f"{account}|{address}")
        self._address.hit(address)
        self._account.hit(account)

    def succeeded(self, account: str, address: str) -> None:
        # The address's count stays: an attacker must not clear it with an account of their own.
        self._pair.reset(f"{account}|{address}")
        self._account.reset(account)

    async def hash(self, work: Callable[[], T]) -> T:
        """Runs a password hash (or check) in a thread, a few at a time."""
        async with self._slot():
            return await asyncio.to_thread(work)

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self._waiting >= self._max_waiting:
            raise RateLimited(
                "the server is busy checking passwords; try again in a moment",
                code="login_busy",
                retry_after=1,
            )
        self._waiting += 1
        try:
            async with self._slots:
                yield
        finally:
            self._waiting -= 1
