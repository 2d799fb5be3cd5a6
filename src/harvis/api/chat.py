"""POST /api/chat: save the user's message, then stream the answer as Server-Sent Events.

The same turn as a voice turn, without the speech stages (harvis.pipeline.turn).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from harvis.api.deps import CurrentUser, DbSession, PipelineDep, RouterDep, ServicesDep
from harvis.api.fields import CleanStr
from harvis.api.routing import api_router
from harvis.api.schema_docs import CHAT_STREAM
from harvis.api.sse import EventStreamResponse
from harvis.api.turns import observer, sse
from harvis.errors import Invalid, NotFound
from harvis.pipeline.recorder import DbRecorder
from harvis.store import chats
from harvis.tools.builtin import is_known_zone

router = api_router(tags=["chat"])


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
    # The user's IANA time zone (the browser's), for tools such as the current time.
    timezone: CleanStr | None = Field(default=None, max_length=64)
    tools: bool = True  # False: answer without tools


@router.post(
    "/api/chat",
    response_class=EventStreamResponse,
    responses=CHAT_STREAM,
)
async def chat(
    body: ChatIn, user: CurrentUser, db: DbSession, svc: ServicesDep, llm: RouterDep, pipeline: PipelineDep
) -> EventStreamResponse:
    if not body.message.strip():
        raise Invalid("the message is empty", code="empty_message")
    check_timezone(body.timezone)
    session_model = None
    if body.session_id:
        chat_session = await chats.get_session(db, user_id=user.id, session_id=body.session_id)
        if chat_session is None:
            raise NotFound("no such session", code="session_not_found")
        session_model = chat_session.model
    options = pipeline.text_options(
        model=body.model or session_model or llm.default_model,
        llm_options=body.options.model_dump(exclude_none=True) if body.options else None,
        user_id=user.id if body.tools else None,
        timezone=body.timezone or None,
    )
    recorder = DbRecorder(
        svc.db, user_id=user.id, session_id=body.session_id, kind="text", chosen_model=body.model
    )
    turn = pipeline.turn(recorder, options, on_end=observer("chat"))
    # Committed before the LLM is called: a crash from here on still leaves the question.
    started = await turn.begin(body.message)
    return EventStreamResponse(sse(turn.answer(started)))


def check_timezone(name: str | None) -> None:
    """A zone the tools could not use is the client's mistake: said now, not mid-answer."""
    if name and not is_known_zone(name):
        raise Invalid(
            f"unknown time zone {name[:64]!r} (an IANA name such as Europe/Paris)", code="bad_timezone"
        )
