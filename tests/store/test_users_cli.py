"""`harvis users` from the console, as an admin would run it, on a real data dir."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from harvis.store import credentials, users
from harvis.store.db import Database
from harvis.store.models import utcnow
from harvis.store.passwords import verify_password
from tests.support.backend import backend_env
from tests.support.processes import HARVIS, REPO


def harvis_users(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HARVIS, "users", *args],
        input=stdin,
        env=backend_env(data_dir),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _check(data_dir: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{data_dir / 'harvis.db'}")
    try:
        async with db.session() as s:
            root = await users.get_user_by_name(s, username="root")
            bob = await users.get_user_by_name(s, username="bob")
            assert root is not None and root.is_admin, "the first account becomes admin"
            assert bob is not None and not bob.is_admin
            assert verify_password(bob.password_hash, "new-password-456")
            assert not verify_password(bob.password_hash, "first-password-123")
            assert await credentials.user_for_token(s, jti="before-reset", user_id=bob.id) is None
    finally:
        await db.close()


async def _give_bob_a_session(data_dir: Path) -> None:
    from datetime import timedelta

    db = Database(f"sqlite+aiosqlite:///{data_dir / 'harvis.db'}")
    try:
        async with db.session() as s:
            bob = await users.get_user_by_name(s, username="bob")
            assert bob is not None
            await credentials.add_token(
                s, jti="before-reset", user_id=bob.id, expires_at=utcnow() + timedelta(1)
            )
            await s.commit()
    finally:
        await db.close()


def test_create_list_and_set_password(tmp_path: Path) -> None:
    assert (
        harvis_users(tmp_path, "create", "root", "--password-stdin", stdin="root-password-1\n").returncode
        == 0
    )
    r = harvis_users(tmp_path, "create", "bob", "--password-stdin", stdin="first-password-123\n")
    assert r.returncode == 0 and "created bob (user" in r.stdout
    r = harvis_users(tmp_path, "create", "bob", "--password-stdin", stdin="another-password\n")
    assert r.returncode == 1 and "exists" in r.stderr
    r = harvis_users(tmp_path, "create", "eve", "--password-stdin", stdin="short\n")
    assert r.returncode == 1 and "at least 8" in r.stderr

    listed = harvis_users(tmp_path, "list").stdout.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["root", "admin"], ["bob", "user"]]

    asyncio.run(_give_bob_a_session(tmp_path))
    r = harvis_users(tmp_path, "set-password", "bob", "--password-stdin", stdin="new-password-456\n")
    assert r.returncode == 0, r.stderr
    assert (
        harvis_users(tmp_path, "set-password", "nobody", "--password-stdin", stdin="x" * 10).returncode == 1
    )
    asyncio.run(_check(tmp_path))
