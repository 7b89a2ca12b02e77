"""AgentCore Memory session manager, enabled by the MEMORY_ID environment variable."""

import logging
import os

from bedrock_agentcore.memory.integrations.strands.config import AgentCoreMemoryConfig
from bedrock_agentcore.memory.integrations.strands.session_manager import AgentCoreMemorySessionManager

logger = logging.getLogger(__name__)

MEMORY_ID_ENV = "MEMORY_ID"


def get_memory_session_manager(session_id: str, actor_id: str) -> AgentCoreMemorySessionManager | None:
    """Return a session manager persisting this session's conversation to AgentCore Memory, or None.

    None (conversation kept in process memory only) when MEMORY_ID is not set. Creating the manager already
    calls AgentCore Memory (it looks the session up), so call this off the event loop.
    """
    memory_id = os.environ.get(MEMORY_ID_ENV, "").strip()
    if not memory_id:
        return None
    config = AgentCoreMemoryConfig(
        memory_id=memory_id,
        session_id=session_id,
        actor_id=actor_id,
        # The agent is driven by stream_async on the runtime's shared event loop; async mode moves the per-turn
        # boto3 calls to threads so one session's memory writes do not stall every other session's stream.
        async_mode=True,
    )
    # Region comes from the standard AWS environment (AWS_REGION / AWS_DEFAULT_REGION) like every other client.
    return AgentCoreMemorySessionManager(config)
