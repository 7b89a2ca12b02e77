"""Choose the model the agent talks to."""

import logging
import os

from strands.models import BedrockModel
from strands.models.model import Model

from model.offline import OFFLINE_MODEL_ID, OfflineDeterministicModel

logger = logging.getLogger(__name__)

MODEL_PROVIDER_ENV = "AGENT_MODEL_PROVIDER"
BEDROCK_MODEL_ID_ENV = "BEDROCK_MODEL_ID"
# Cross-region inference profile for Claude Sonnet 4.5; override with BEDROCK_MODEL_ID.
DEFAULT_BEDROCK_MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def load_model() -> Model:
    """Return the Bedrock model, or the offline deterministic stand-in when AGENT_MODEL_PROVIDER asks for it."""
    provider = os.environ.get(MODEL_PROVIDER_ENV, "").strip().lower()
    if provider == OFFLINE_MODEL_ID:
        logger.info("Using the offline deterministic model (test/sandbox stand-in, no Bedrock calls)")
        return OfflineDeterministicModel()
    if provider not in ("", "bedrock"):
        # Falling back silently could send sandbox traffic to Bedrock; fail loudly instead.
        raise ValueError(f"Unsupported {MODEL_PROVIDER_ENV}={provider!r}; use 'bedrock' or '{OFFLINE_MODEL_ID}'")
    model_id = os.environ.get(BEDROCK_MODEL_ID_ENV) or DEFAULT_BEDROCK_MODEL_ID
    return BedrockModel(model_id=model_id)
