"""Query functions on SQLite and PostgreSQL: ownership scoping, ordering, cascades, credentials."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError

from harvis.store import chats, credentials, users, voices
from harvis.store.db import Database
from harvis.store.models import User


async def _user(db: Database, name: str | None = None, admin: bool = False) -> User:
    async with db.session() as s:
        user = await users.create_user(
            s, username=name or f"u{uuid.uuid4().hex[:10]}", password_hash="x", is_admin=admin
        )
        await s.commit()
        return user


async def test_usernames_are_unique(db: Database) -> None:
    user = await _user(db)
    async with db.session() as s:
        try:
            await users.create_user(s, username=user.username, password_hash="y", is_admin=False)
            await s.commit()
        except IntegrityError:
            await s.rollback()
        else:
            raise AssertionError("a second user with the same name was stored")
        found = await users.get_user_by_name(s, username=user.username)
        assert found is not None and found.id == user.id


async def test_sessions_are_scoped_to_their_owner(db: Database) -> None:
    alice, bob = await _user(db), await _user(db)
    async with db.session() as s:
        chat = await chats.create_session(s, user_id=alice.id, title="plans")
        await s.commit()
        assert await chats.get_session(s, user_id=bob.id, session_id=chat.id) is None
        assert [c.id for c in await chats.list_sessions(s, user_id=bob.id)] == []
        own = await chats.get_session(s, user_id=alice.id, session_id=chat.id)
        assert own is not None and own.title == "plans"


async def test_messages_keep_order_and_history_has_only_complete_ones(db: Database) -> None:
    alice = await _user(db)
    async with db.session() as s:
        chat = await chats.create_session(s, user_id=alice.id)
        ids = []
        for i in range(6):  # written within microseconds of each other: order must still hold
            m = await chats.add_message(
                s, session_id=chat.id, role="user" if i % 2 == 0 else "assistant", content=f"m{i}"
            )
            ids.append(m.id)
        broken = await chats.add_message(s, session_id=chat.id, role="assistant", status="streaming")
        await chats.finish_message(s, message_id=broken.id, content="half", status="error", error="node died")
        await s.commit()
        listed = await chats.list_messages(s, session_id=chat.id)
        assert [m.id for m in listed] == [*ids, broken.id]
        assert (
            listed[-1].status == "error" and listed[-1].content == "half" and listed[-1].error == "node died"
        )
        past = await chats.history(s, session_id=chat.id)
        assert [h["content"] for h in past] == [f"m{i}" for i in range(6)]
        assert past[1] == {"role": "assistant", "content": "m1"}


async def test_history_holds_interrupted_answers_as_heard(db: Database) -> None:
    alice = await _user(db)
    async with db.session() as s:
        chat = await chats.create_session(s, user_id=alice.id)
        await chats.add_message(s, session_id=chat.id, role="user", content="tell me a story")
        cut = await chats.add_message(s, session_id=chat.id, role="assistant", status="streaming")
        await chats.finish_message(s, message_id=cut.id, content="Once upon", status="interrupted")
        await chats.add_message(s, session_id=chat.id, role="user", content="stop")
        silent = await chats.add_message(s, session_id=chat.id, role="assistant", status="streaming")
        await chats.finish_message(s, message_id=silent.id, content="", status="interrupted")
        await s.commit()
        past = await chats.history(s, session_id=chat.id)
    assert past == [
        {"role": "user", "content": "tell me a story"},
        {"role": "assistant", "content": "Once upon"},  # what the listener heard
        {"role": "user", "content": "stop"},  # nothing was heard of the answer to this
    ]


async def test_finish_message_stores_timings_and_times_are_utc(db: Database) -> None:
    alice = await _user(db)
    async with db.session() as s:
        chat = await chats.create_session(s, user_id=alice.id)
        m = await chats.add_message(s, session_id=chat.id, role="assistant", status="streaming")
        await chats.finish_message(
            s,
            message_id=m.id,
            content="hi",
            status="complete",
            served_by="dep@node",
            model="smollm2:135m",
            timings={"ttft_ms": 12.5, "total_ms": 40.0},
        )
        await s.commit()
    async with db.session() as s:
        [row] = await chats.list_messages(s, session_id=chat.id)
        assert row.timings == {"ttft_ms": 12.5, "total_ms": 40.0}
        assert row.served_by == "dep@node" and row.model == "smollm2:135m"
        assert row.created_at.tzinfo is not None
        assert abs(row.created_at - datetime.now(UTC)) < timedelta(minutes=5)


async def test_deleting_a_session_deletes_its_messages(db: Database) -> None:
    alice = await _user(db)
    async with db.session() as s:
        chat = await chats.create_session(s, user_id=alice.id)
        await chats.add_message(s, session_id=chat.id, role="user", content="bye")
        await s.commit()
        await chats.delete_session(s, chat=chat)
        await s.commit()
        assert await chats.list_messages(s, session_id=chat.id) == []


async def test_tokens_revoke_and_expire(db: Database) -> None:
    alice = await _user(db)
    soon = datetime.now(UTC) + timedelta(hours=1)
    async with db.session() as s:
        await credentials.add_token(s, jti="j-live-" + alice.id, user_id=alice.id, expires_at=soon)
        await credentials.add_token(
            s, jti="j-old-" + alice.id, user_id=alice.id, expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
        await s.commit()
        assert (await credentials.user_for_token(s, jti="j-live-" + alice.id, user_id=alice.id)) is not None
        assert await credentials.user_for_token(s, jti="j-old-" + alice.id, user_id=alice.id) is None
        assert await credentials.user_for_token(s, jti="j-live-" + alice.id, user_id="someone-else") is None
        await credentials.revoke_token(s, jti="j-live-" + alice.id)
        await s.commit()
        assert await credentials.user_for_token(s, jti="j-live-" + alice.id, user_id=alice.id) is None


async def test_api_keys_are_found_by_hash_and_deleted_only_by_owner(db: Database) -> None:
    alice, bob = await _user(db), await _user(db)
    digest = uuid.uuid4().hex * 2
    async with db.session() as s:
        key = await credentials.create_api_key(
            s, user_id=alice.id, name="ci", key_hash=digest, prefix="hv-abc"
        )
        await s.commit()
        found = await credentials.user_for_api_key(s, key_hash=digest)
        assert found is not None and found.id == alice.id
        await s.commit()
        [listed] = await credentials.list_api_keys(s, user_id=alice.id)
        assert listed.last_used_at is not None
        assert not await credentials.delete_api_key(s, user_id=bob.id, key_id=key.id)
        assert await credentials.delete_api_key(s, user_id=alice.id, key_id=key.id)
        await s.commit()
        assert await credentials.user_for_api_key(s, key_hash=digest) is None


async def test_app_settings_round_trip(db: Database) -> None:
    async with db.session() as s:
        key = f"flag-{uuid.uuid4().hex[:8]}"
        assert await users.get_setting(s, key=key, default=False) is False
        await users.put_setting(s, key=key, value=True)
        await s.commit()
        assert await users.get_setting(s, key=key) is True
        await users.put_setting(s, key=key, value={"a": [1, 2]})
        await s.commit()
        assert await users.get_setting(s, key=key) == {"a": [1, 2]}


async def test_voices_crud_is_scoped_to_owner(db: Database) -> None:
    alice, bob = await _user(db), await _user(db)
    async with db.session() as s:
        v = await voices.create_voice(
            s,
            user_id=alice.id,
            name="me",
            mode="match",
            engine="piper+world",
            audio_path="voices/a/x.wav",
            duration_s=4.5,
            sample_rate=16000,
            consent_text="I agree",
            speaker_data=None,
        )
        await s.commit()
        assert await voices.get_voice(s, user_id=bob.id, voice_id=v.id) is None
        assert [x.id for x in await voices.list_voices(s, user_id=alice.id)] == [v.id]
        await voices.set_speaker_data(s, voice=v, speaker_data={"alpha": 0.1, "f0": [1.0, 2.0]})
        await s.commit()
        again = await voices.get_voice(s, user_id=alice.id, voice_id=v.id)
        assert again is not None and again.speaker_data == {"alpha": 0.1, "f0": [1.0, 2.0]}
        assert await voices.delete_voice(s, user_id=bob.id, voice_id=v.id) is None
        deleted = await voices.delete_voice(s, user_id=alice.id, voice_id=v.id)
        await s.commit()
        assert deleted is not None and deleted.audio_path == "voices/a/x.wav"
        assert await voices.list_voices(s, user_id=alice.id) == []


async def test_stale_streams_are_failed_and_live_ones_kept(db: Database) -> None:
    from harvis.store.models import Message

    alice = await _user(db)
    async with db.session() as s:
        chat = await chats.create_session(s, user_id=alice.id)
        old = await chats.add_message(s, session_id=chat.id, role="assistant", status="streaming")
        live = await chats.add_message(s, session_id=chat.id, role="assistant", status="streaming")
        done = await chats.add_message(s, session_id=chat.id, role="assistant", content="ok")
        old.updated_at = datetime.now(UTC) - timedelta(minutes=5)
        await s.commit()
        await chats.save_partial(s, message_id=live.id, content="so far", reasoning="")
        await s.commit()
        cutoff = datetime.now(UTC) - timedelta(minutes=1)
        assert await chats.fail_stale_streams(s, older_than=cutoff, error="server gone") == 1
        await s.commit()
        rows = {m.id: m for m in await chats.list_messages(s, session_id=chat.id)}
        assert (rows[old.id].status, rows[old.id].error) == ("error", "server gone")
        assert (rows[live.id].status, rows[live.id].content) == ("streaming", "so far")
        assert rows[done.id].status == "complete"
        assert await chats.fail_stale_streams(s, older_than=None, error="server gone") == 1
        await s.commit()
        assert (await s.get(Message, rows[live.id].pk)) is not None
        assert {m.status for m in await chats.list_messages(s, session_id=chat.id)} == {"error", "complete"}
