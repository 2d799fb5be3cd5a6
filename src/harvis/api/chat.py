"""POST /api/chat: save the user's message, then stream the answer as Server-Sent Events."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from harvis.api.chat_turn import Turn, stream_turn
from harvis.api.deps import AppState, CurrentUser, DbSession
from harvis.api.errors import ApiError
from harvis.api.fields import CleanStr
from harvis.api.sse import EventStreamResponse
from harvis.llm.types import ChatRequest
from harvis.store import chats

router = APIRouter(tags=["chat"])

TITLE_CHARS = 60


class ChatOptions(BaseModel):
    """Sampling options passed to the node (Ollama names); all optional."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = Field(default=None, ge=0, lt=2**31)
    num_predict: int | None = Field(default=None, ge=1, le=32_768)


class ChatIn(BaseModel):
    session_id: CleanStr | None = Field(default=None, max_length=64)
    model: CleanStr | None = Field(default=None, min_length=1, max_length=200)
    message: CleanStr = Field(min_length=1, max_length=32_000)
    options: ChatOptions | None = None


def title_from(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


@router.post(
    "/api/chat",
    response_class=EventStreamResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "events: session, reasoning, token, done | error",
        }
    },
)
async def chat(body: ChatIn, user: CurrentUser, session: DbSession, state: AppState) -> EventStreamResponse:
    if not body.message.strip():
        raise ApiError(422, "empty_message", "the message is empty")
    if body.session_id:
        chat_session = await chats.get_session(session, user_id=user.id, session_id=body.session_id)
        if chat_session is None:
            raise ApiError(404, "session_not_found", "no such session")
    else:
        chat_session = await chats.create_session(
            session, user_id=user.id, title=title_from(body.message), model=body.model
        )
    if chat_session.title == chats.DEFAULT_TITLE:
        chat_session.title = title_from(body.message)
    model = body.model or chat_session.model or state.router.default_model
    if body.model and body.model != chat_session.model:
        chat_session.model = body.model
    past = await chats.history(session, session_id=chat_session.id)
    user_message = await chats.add_message(
        session, session_id=chat_session.id, role="user", content=body.message
    )
    answer = await chats.add_message(
        session, session_id=chat_session.id, role="assistant", status="streaming", model=model
    )
    # Committed before the LLM is called: a crash from here on still leaves the question.
    await session.commit()
    turn = Turn(
        session_id=chat_session.id,
        user_message_id=user_message.id,
        assistant_message_id=answer.id,
        request=ChatRequest(
            model=model,
            messages=[*past, {"role": "user", "content": body.message}],
            options=body.options.model_dump(exclude_none=True) if body.options else {},
        ),
    )
    return EventStreamResponse(stream_turn(state.db, state.router, turn))
