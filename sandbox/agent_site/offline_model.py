"""A deterministic, offline stand-in for the Bedrock model, for the local sandbox and the tests.

Not part of the agent: this directory (sandbox/agent_site/) is what the sandbox adds to its agent processes' Python
path (after the agent's own code), so the shipped agent package never contains it. The agent's ``model.load`` imports
this module, by name, only when ``AGENT_MODEL_PROVIDER=offline-deterministic``; without the sandbox that setting
fails loudly.

It never calls AWS and has no language understanding: it picks a tool with a few keyword rules and, once the tool
has run, answers with the tool's result copied verbatim. It emits the same stream events as Bedrock's
ConverseStream, so the real strands event loop executes the real tools (local ``@tool`` functions and MCP gateway
tools alike).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import AsyncGenerator, AsyncIterable, Iterator
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from pydantic import BaseModel, ValidationError
from strands.models.model import Model
from strands.types.content import Messages, SystemContentBlock
from strands.types.streaming import StreamEvent
from strands.types.tools import ToolChoice, ToolSpec

if TYPE_CHECKING:
    from strands.agent.agent_metadata import AgentMetadata

T = TypeVar("T", bound=BaseModel)

OFFLINE_MODEL_ID = "offline-deterministic"

RETURN_POLICY_TOOL = "get_return_policy"
PRODUCT_INFO_TOOL = "get_product_info"
# Gateway tools are named "<target>___<tool>", e.g. "WarrantyCheck___check_warranty".
WARRANTY_TOOL_SUFFIX = "check_warranty"

RETURN_POLICY_CATEGORIES = ("electronics", "accessories", "audio")

_PRODUCT_ID = re.compile(r"\bPROD-\d{3}\b", re.IGNORECASE)
_RETURN_POLICY = re.compile(r"\breturns?\b.*\bpolic(?:y|ies)\b", re.IGNORECASE | re.DOTALL)
# Phrases that introduce a product name; what follows is used as the get_product_info query.
_PRODUCT_QUESTION = re.compile(
    r"(?:tell me about|information (?:on|about)|info (?:on|about)|details (?:on|about|for)|price of"
    r"|how much (?:is|are|does|do)|do you (?:sell|have))\s+(?:the\s+|a\s+|an\s+|your\s+)?(?P<query>[^?.!]+)",
    re.IGNORECASE,
)
_RECALL = re.compile(r"\bwhat (?:did|have) i (?:ask|say|said|asked)\b")
_TRAILING_FILLER = re.compile(r"\s+(?:cost|costs|please)\s*$", re.IGNORECASE)

CLOSING_LINE = "Is there anything else I can help you with?"
WARRANTY_NEEDS_GATEWAY = (
    "Warranty lookups use the WarrantyCheck tool behind the AgentCore Gateway, which is only available to "
    "authenticated callers. Please sign in (send a valid bearer token) and ask again."
)
GENERIC_ANSWER = (
    "Thanks for reaching out! I can help with return policies (electronics, accessories, audio), "
    "product information (for example PROD-001 or 'Tell me about the USB-C Hub') and, for signed-in "
    "customers, warranty checks. " + CLOSING_LINE
)


class OfflineModelConfig(TypedDict, total=False):
    """Settings of the offline model.

    Attributes:
        model_id: Reported model id; informational only.
        chunk_size: Approximate number of characters per streamed text delta.
        context_window_limit: Advertised context window, so strands does not warn about a missing limit.
    """

    model_id: str
    chunk_size: int
    context_window_limit: int | None


def chunk_text(text: str, chunk_size: int) -> list[str]:
    """Split text at word boundaries into pieces of roughly ``chunk_size`` characters; joined they equal text."""
    chunks: list[str] = []
    current = ""
    for word in re.findall(r"\s*\S+\s*|\s+", text):
        if current and len(current) + len(word) > chunk_size:
            chunks.append(current)
            current = ""
        current += word
    if current:
        chunks.append(current)
    return chunks


def _tool_result_texts(message: Any) -> list[str]:
    """Return the content of every toolResult block in a message as text, or [] if it holds none."""
    texts: list[str] = []
    for block in message.get("content", []):
        result = block.get("toolResult")
        if not result:
            continue
        for item in result.get("content", []):
            if "text" in item:
                texts.append(item["text"])
            elif "json" in item:
                texts.append(json.dumps(item["json"], sort_keys=True))
    return texts


def _has_tool_result(message: Any) -> bool:
    return any("toolResult" in block for block in message.get("content", []))


def user_texts(messages: Messages) -> list[str]:
    """The text of every user message that carries text (tool-result messages carry none), oldest first."""
    texts = []
    for message in messages:
        if message.get("role") == "user":
            parts = [block["text"] for block in message.get("content", []) if "text" in block]
            if parts:
                texts.append("\n".join(parts))
    return texts


def latest_user_text(messages: Messages) -> str:
    """Return the text of the most recent user message that carries text (tool-result messages carry none)."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        texts = [block["text"] for block in message.get("content", []) if "text" in block]
        if texts:
            return "\n".join(texts)
    return ""


class OfflineDeterministicModel(Model):
    """Deterministic keyword-rule model implementing the strands ``Model`` interface (test/sandbox stand-in).

    Decision rules, applied to the latest user message:

    * the last message holds tool results -> final answer quoting those results verbatim (``end_turn``);
    * "return policy" + electronics/accessories/audio -> ``get_return_policy(product_category=...)``;
    * "warranty" + ``PROD-NNN`` and a tool named ``*check_warranty`` offered -> that tool with
      ``{"product_id": "PROD-NNN"}``; "warranty" without such a tool -> explains the gateway needs sign-in;
    * ``PROD-NNN`` or a product question ("Tell me about the USB-C Hub") -> ``get_product_info(query=...)``;
    * "what did I ask/say" -> quotes the earlier user messages of this conversation (its memory, made visible);
    * anything else -> a polite generic answer.

    A rule whose tool is not among the offered tool specs falls through to the generic answer.
    """

    def __init__(self, **model_config: Unpack[OfflineModelConfig]) -> None:
        """Create the model; ``model_config`` overrides the defaults of ``OfflineModelConfig``."""
        self.config: OfflineModelConfig = {
            "model_id": OFFLINE_MODEL_ID,
            "chunk_size": 40,
            "context_window_limit": 200_000,
        }
        self.update_config(**model_config)

    def update_config(self, **model_config: Any) -> None:
        """Merge configuration overrides into the current configuration."""
        self.config.update(model_config)  # type: ignore[typeddict-item]

    def get_config(self) -> OfflineModelConfig:
        """Return a copy of the current configuration."""
        return OfflineModelConfig(**self.config)

    async def stream(
        self,
        messages: Messages,
        tool_specs: list[ToolSpec] | None = None,
        system_prompt: str | None = None,
        *,
        tool_choice: ToolChoice | None = None,
        system_prompt_content: list[SystemContentBlock] | None = None,
        invocation_state: dict[str, Any] | None = None,
        cancel_signal: threading.Event | None = None,
        agent_metadata: AgentMetadata | None = None,
        structured_output_model: type[BaseModel] | None = None,
        **kwargs: Any,
    ) -> AsyncIterable[StreamEvent]:
        """Stream one deterministic assistant turn as Bedrock-shaped events (see the class docstring)."""
        available_tools = {spec["name"] for spec in tool_specs or []}
        input_tokens = await self.count_tokens(messages, tool_specs, system_prompt, system_prompt_content)

        yield {"messageStart": {"role": "assistant"}}
        if messages and _has_tool_result(messages[-1]):
            events = list(self._text_events(self._answer_from_tool_results(messages[-1])))
        else:
            tool_call = self._choose_tool(latest_user_text(messages), available_tools)
            if tool_call is None:
                events = list(self._text_events(self._answer_without_tool(messages, available_tools)))
            else:
                name, tool_input = tool_call
                events = list(self._tool_use_events(name, tool_input, tool_use_id=f"tooluse_offline_{len(messages)}"))
        for event in events:
            yield event

        output_tokens = sum(
            math.ceil(len(event["contentBlockDelta"]["delta"].get("text", "")) / 4)
            for event in events
            if "contentBlockDelta" in event
        )
        yield {
            "metadata": {
                "usage": {
                    "inputTokens": input_tokens,
                    "outputTokens": output_tokens,
                    "totalTokens": input_tokens + output_tokens,
                },
                "metrics": {"latencyMs": 0},
            }
        }

    async def structured_output(
        self, output_model: type[T], prompt: Messages, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[dict[str, T | Any], None]:
        """Validate the latest user text, which must be a JSON object, against ``output_model``.

        There is no language understanding to extract fields from free text, so anything that is not already a
        matching JSON object is rejected with ``ValueError``.
        """
        text = latest_user_text(prompt)
        try:
            output = output_model.model_validate_json(text)
        except ValidationError as error:
            raise ValueError(
                f"{OFFLINE_MODEL_ID} model can only return structured output for a prompt that is a JSON object "
                f"matching {output_model.__name__}"
            ) from error
        yield {"output": output}

    def _choose_tool(self, text: str, available_tools: set[str]) -> tuple[str, dict[str, str]] | None:
        lowered = text.lower()
        product_id_match = _PRODUCT_ID.search(text)
        product_id = product_id_match.group(0).upper() if product_id_match else None

        if _RETURN_POLICY.search(text) and RETURN_POLICY_TOOL in available_tools:
            category = next((word for word in RETURN_POLICY_CATEGORIES if word in lowered), None)
            if category is not None:
                return RETURN_POLICY_TOOL, {"product_category": category}

        if "warranty" in lowered:
            warranty_tool = _find_warranty_tool(available_tools)
            if warranty_tool is not None and product_id is not None:
                return warranty_tool, {"product_id": product_id}
            return None

        if PRODUCT_INFO_TOOL in available_tools:
            if product_id is not None:
                return PRODUCT_INFO_TOOL, {"query": product_id}
            question = _PRODUCT_QUESTION.search(text)
            if question is not None:
                query = _TRAILING_FILLER.sub("", question.group("query").strip())
                if query:
                    return PRODUCT_INFO_TOOL, {"query": query}
        return None

    def _answer_without_tool(self, messages: Messages, available_tools: set[str]) -> str:
        lowered = latest_user_text(messages).lower()
        if _RECALL.search(lowered):
            earlier = user_texts(messages)[:-1]
            if not earlier:
                return "You have not asked me anything else in this conversation yet."
            return "Earlier in this conversation you asked: " + " | ".join(earlier)
        if "warranty" in lowered:
            if _find_warranty_tool(available_tools) is None:
                return WARRANTY_NEEDS_GATEWAY
            return "Which product should I check? Please give me its product ID, for example PROD-001."
        if _RETURN_POLICY.search(lowered):
            return (
                "I can look up return policies for these categories: "
                + ", ".join(RETURN_POLICY_CATEGORIES)
                + ". Which one are you interested in?"
            )
        return GENERIC_ANSWER

    @staticmethod
    def _answer_from_tool_results(message: Any) -> str:
        results = "\n".join(_tool_result_texts(message))
        return f"Here is what I found:\n{results}\n{CLOSING_LINE}"

    def _text_events(self, text: str) -> Iterator[StreamEvent]:
        yield {"contentBlockStart": {"contentBlockIndex": 0, "start": {}}}
        for piece in chunk_text(text, self.config.get("chunk_size", 40)):
            yield {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": piece}}}
        yield {"contentBlockStop": {"contentBlockIndex": 0}}
        yield {"messageStop": {"stopReason": "end_turn"}}

    @staticmethod
    def _tool_use_events(name: str, tool_input: dict[str, str], tool_use_id: str) -> Iterator[StreamEvent]:
        yield {
            "contentBlockStart": {
                "contentBlockIndex": 0,
                "start": {"toolUse": {"name": name, "toolUseId": tool_use_id}},
            }
        }
        yield {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"toolUse": {"input": json.dumps(tool_input)}}}}
        yield {"contentBlockStop": {"contentBlockIndex": 0}}
        yield {"messageStop": {"stopReason": "tool_use"}}


def _find_warranty_tool(available_tools: set[str]) -> str | None:
    return next((name for name in sorted(available_tools) if name.endswith(WARRANTY_TOOL_SUFFIX)), None)
