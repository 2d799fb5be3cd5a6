"""GET /api/models: every model the router can reach, with its node and whether it is loaded."""

from __future__ import annotations

from pydantic import BaseModel

from harvis.api.deps import CurrentUser, RouterDep
from harvis.api.routing import api_router

router = api_router(tags=["models"])


class ModelOut(BaseModel):
    name: str
    node: str
    deployment: str
    provider: str
    loaded: bool
    healthy: bool


class DisabledOut(BaseModel):
    model: str
    entry: str  # where in the router file, e.g. "model_list[2]"
    reason: str  # e.g. "environment variable OPENAI_API_KEY is not set"


class ModelsOut(BaseModel):
    default: str
    models: list[ModelOut]
    disabled: list[DisabledOut] = []


@router.get("/api/models", response_model=ModelsOut)
async def list_models(user: CurrentUser, llm: RouterDep) -> ModelsOut:
    infos = await llm.list_models()
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
    disabled = [DisabledOut(**d) for d in llm.status().get("disabled", [])]
    return ModelsOut(default=llm.default_model, models=models, disabled=disabled)
