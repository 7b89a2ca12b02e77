"""AgentCore Memory session manager, enabled by the MEMORY_ID environment variable."""

import logging
import os

from bedrock_agentcore.memory.integrations.strands.config import AgentCoreMemoryConfig
from bedrock_agentcore.memory.integrations.strands.session_manager import AgentCoreMemorySessionManager

logger = logging.getLogger(__name__)

MEMORY_ID_ENV = "MEMORY_ID"


def get_memory_session_manager(session_id: str, actor_id: str) -> AgentCoreMemorySessionManager | None:
    """Return a session manager persisting this session's conversation to AgentCore Memory, or None.

    None (conversation kept in process memory only) when MEMORY_ID is not set. Creating the manager makes no
    AWS call; the agent it is attached to reads the session history when it is constructed.
    """
    memory_id = os.environ.get(MEMORY_ID_ENV, "").strip()
    if not memory_id:
        return None
    config = AgentCoreMemoryConfig(memory_id=memory_id, session_id=session_id, actor_id=actor_id)
    # Region comes from the standard AWS environment (AWS_REGION / AWS_DEFAULT_REGION) like every other client.
    return AgentCoreMemorySessionManager(config)
