"""GET /api/models: every model the router can reach, with its node and whether it is loaded."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from harvis.api.deps import AppState, CurrentUser
from harvis.api.errors import ApiError
from harvis.llm.types import LLMError

router = APIRouter(tags=["models"])


class ModelOut(BaseModel):
    name: str
    node: str
    deployment: str
    provider: str
    loaded: bool
    healthy: bool


class ModelsOut(BaseModel):
    default: str
    models: list[ModelOut]


@router.get("/api/models", response_model=ModelsOut)
async def list_models(user: CurrentUser, state: AppState) -> ModelsOut:
    try:
        infos = await state.router.list_models()
    except LLMError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    models = [
        ModelOut(
            name=m.name,
            node=m.node,
            deployment=m.deployment,
            provider=m.provider,
            loaded=m.loaded,
            healthy=m.healthy,
        )
        for m in infos
    ]
    return ModelsOut(default=state.router.default_model, models=models)
