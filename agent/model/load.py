"""Choose the model the agent talks to."""

import importlib
import logging
import os

from strands.models import BedrockModel
from strands.models.model import Model

logger = logging.getLogger(__name__)

MODEL_PROVIDER_ENV = "AGENT_MODEL_PROVIDER"
BEDROCK_MODEL_ID_ENV = "BEDROCK_MODEL_ID"
# Cross-region inference profile for Claude Sonnet 4.5; override with BEDROCK_MODEL_ID.
DEFAULT_BEDROCK_MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
OFFLINE_PROVIDER = "offline-deterministic"
# The offline keyword model is not part of the agent (never in its package): the local sandbox puts a module of this
# name on its agent processes' path (sandbox/agent_site/). It is imported only when AGENT_MODEL_PROVIDER asks for it.
OFFLINE_MODEL_MODULE = "offline_model"


def load_model() -> Model:
    """Return the Bedrock model, or the sandbox's offline stand-in when AGENT_MODEL_PROVIDER asks for it."""
    provider = os.environ.get(MODEL_PROVIDER_ENV, "").strip().lower()
    if provider == OFFLINE_PROVIDER:
        return _offline_model()
    if provider not in ("", "bedrock"):
        # Falling back silently could send sandbox traffic to Bedrock; fail loudly instead.
        raise ValueError(f"Unsupported {MODEL_PROVIDER_ENV}={provider!r}; use 'bedrock' or '{OFFLINE_PROVIDER}'")
    model_id = os.environ.get(BEDROCK_MODEL_ID_ENV) or DEFAULT_BEDROCK_MODEL_ID
    return BedrockModel(model_id=model_id)


def _offline_model() -> Model:
    try:
        module = importlib.import_module(OFFLINE_MODEL_MODULE)
    except ModuleNotFoundError as missing:
        if missing.name != OFFLINE_MODEL_MODULE:
            raise  # the offline model is there but one of its own imports is not
        raise ValueError(
            f"{MODEL_PROVIDER_ENV}={OFFLINE_PROVIDER} needs the module {OFFLINE_MODEL_MODULE!r}, which only the local "
            "sandbox provides (it is not part of the agent package); deployed agents use 'bedrock'"
        ) from None
    model = module.OfflineDeterministicModel()
    if not isinstance(model, Model):
        raise TypeError(f"{OFFLINE_MODEL_MODULE}.OfflineDeterministicModel is not a strands Model")
    logger.info("Using the offline deterministic model (sandbox stand-in, no Bedrock calls)")
    return model
