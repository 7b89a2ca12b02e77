"""The offline deterministic model: its stream events, its rules, and that the real strands loop runs real tools."""

import asyncio
import json
import sys
from typing import Any

import pytest
from model.load import DEFAULT_BEDROCK_MODEL_ID, load_model
from offline_model import OfflineDeterministicModel, chunk_text
from pydantic import BaseModel
from strands import Agent
from strands.models import BedrockModel

RETURN_POLICY_SPEC = {
    "name": "get_return_policy",
    "description": "Get return policy information",
    "inputSchema": {"json": {"type": "object", "properties": {"product_category": {"type": "string"}}}},
}
PRODUCT_INFO_SPEC = {
    "name": "get_product_info",
    "description": "Search for product information",
    "inputSchema": {"json": {"type": "object", "properties": {"query": {"type": "string"}}}},
}
WARRANTY_SPEC = {
    "name": "WarrantyCheck___check_warranty",
    "description": "Check warranty",
    "inputSchema": {"json": {"type": "object", "properties": {"product_id": {"type": "string"}}}},
}
LOCAL_SPECS = [RETURN_POLICY_SPEC, PRODUCT_INFO_SPEC]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}


def collect(model: OfflineDeterministicModel, messages: list[Any], specs: list[Any]) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        return [dict(event) async for event in model.stream(messages, specs, "system prompt")]

    return asyncio.run(run())


def tool_call(events: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    starts = [e["contentBlockStart"]["start"] for e in events if "contentBlockStart" in e]
    tool_starts = [s["toolUse"] for s in starts if "toolUse" in s]
    if not tool_starts:
        return None
    raw_input = "".join(
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e and "toolUse" in e["contentBlockDelta"]["delta"]
    )
    return tool_starts[0]["name"], json.loads(raw_input)


def streamed_text(events: list[dict[str, Any]]) -> str:
    return "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)


def test_return_policy_prompt_emits_the_full_tool_use_event_sequence() -> None:
    events = collect(OfflineDeterministicModel(), [user("What's the return policy for electronics?")], LOCAL_SPECS)

    assert [next(iter(e)) for e in events] == [
        "messageStart",
        "contentBlockStart",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[0] == {"messageStart": {"role": "assistant"}}
    tool_use = events[1]["contentBlockStart"]["start"]["toolUse"]
    assert tool_use["name"] == "get_return_policy"
    assert tool_use["toolUseId"]
    assert json.loads(events[2]["contentBlockDelta"]["delta"]["toolUse"]["input"]) == {
        "product_category": "electronics"
    }
    assert events[4] == {"messageStop": {"stopReason": "tool_use"}}
    usage = events[5]["metadata"]["usage"]
    assert usage["inputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]


def test_tool_results_are_quoted_verbatim_in_several_text_chunks() -> None:
    tool_output = "Return policy for electronics: Window: 30 days, Condition: unused, Refund: Full refund"
    messages = [
        user("What's the return policy for electronics?"),
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "t1", "name": "get_return_policy", "input": {}}}],
        },
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": "t1", "status": "success", "content": [{"text": tool_output}]}}],
        },
    ]

    events = collect(OfflineDeterministicModel(), messages, LOCAL_SPECS)

    deltas = [e for e in events if "contentBlockDelta" in e]
    assert len(deltas) > 1
    assert all("text" in e["contentBlockDelta"]["delta"] for e in deltas)
    assert tool_output in streamed_text(events)
    assert {"messageStop": {"stopReason": "end_turn"}} in events
    assert tool_call(events) is None


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("What is your RETURN POLICY for audio gear?", ("get_return_policy", {"product_category": "audio"})),
        ("Returns policy on accessories please", ("get_return_policy", {"product_category": "accessories"})),
        ("What is PROD-003?", ("get_product_info", {"query": "PROD-003"})),
        ("Tell me about the USB-C Hub", ("get_product_info", {"query": "USB-C Hub"})),
        ("How much does the Smart Watch cost?", ("get_product_info", {"query": "Smart Watch"})),
    ],
)
def test_keyword_rules_pick_local_tools(prompt: str, expected: tuple[str, dict[str, str]]) -> None:
    assert tool_call(collect(OfflineDeterministicModel(), [user(prompt)], LOCAL_SPECS)) == expected


def test_warranty_with_product_id_calls_the_gateway_tool_when_offered() -> None:
    events = collect(
        OfflineDeterministicModel(), [user("Check the warranty for prod-001")], [*LOCAL_SPECS, WARRANTY_SPEC]
    )

    assert tool_call(events) == ("WarrantyCheck___check_warranty", {"product_id": "PROD-001"})


def test_warranty_without_the_gateway_tool_explains_sign_in_is_needed() -> None:
    events = collect(OfflineDeterministicModel(), [user("Check the warranty for PROD-001")], LOCAL_SPECS)

    assert tool_call(events) is None
    text = streamed_text(events)
    assert "Gateway" in text
    assert "authenticated" in text
    assert {"messageStop": {"stopReason": "end_turn"}} in events


def test_a_rule_whose_tool_is_not_offered_does_not_call_it() -> None:
    events = collect(OfflineDeterministicModel(), [user("What's the return policy for electronics?")], [])

    assert tool_call(events) is None
    assert "return policies" in streamed_text(events)


def test_unrelated_prompt_gets_a_polite_generic_answer() -> None:
    events = collect(OfflineDeterministicModel(), [user("Hello there!")], LOCAL_SPECS)

    assert tool_call(events) is None
    assert "Thanks for reaching out" in streamed_text(events)


def test_same_input_gives_identical_events() -> None:
    messages = [user("Tell me about the Laptop Stand")]

    assert collect(OfflineDeterministicModel(), messages, LOCAL_SPECS) == collect(
        OfflineDeterministicModel(), messages, LOCAL_SPECS
    )


def test_chunk_text_splits_at_words_and_loses_nothing() -> None:
    text = "Return policy for electronics:\nWindow: 30 days, Condition: unused"
    chunks = chunk_text(text, 12)

    assert len(chunks) > 3
    assert "".join(chunks) == text


def test_config_round_trip() -> None:
    model = OfflineDeterministicModel(chunk_size=5)
    model.update_config(model_id="offline-x")

    assert model.get_config()["chunk_size"] == 5
    assert model.get_config()["model_id"] == "offline-x"
    assert model.context_window_limit == 200_000


class Ticket(BaseModel):
    product_id: str
    priority: int


def test_structured_output_validates_a_json_prompt_and_rejects_free_text() -> None:
    model = OfflineDeterministicModel()

    async def run(text: str) -> list[dict[str, Any]]:
        return [event async for event in model.structured_output(Ticket, [user(text)])]  # type: ignore[list-item]

    events = asyncio.run(run('{"product_id": "PROD-002", "priority": 2}'))
    assert events[-1]["output"] == Ticket(product_id="PROD-002", priority=2)
    with pytest.raises(ValueError, match="Ticket"):
        asyncio.run(run("please open a ticket"))


def test_real_strands_agent_executes_the_real_tool() -> None:
    import main

    agent = Agent(model=OfflineDeterministicModel(), tools=main.LOCAL_TOOLS, callback_handler=None)

    result = agent("What's the return policy for electronics?")

    tool_results = [
        block["toolResult"] for message in agent.messages for block in message["content"] if "toolResult" in block
    ]
    assert len(tool_results) == 1
    assert tool_results[0]["status"] == "success"
    assert tool_results[0]["content"][0]["text"].startswith("Return policy for electronics: Window: 30 days")
    assert result.stop_reason == "end_turn"
    assert "30 days" in str(result)


def test_load_model_selects_offline_model_from_env() -> None:
    assert isinstance(load_model(), OfflineDeterministicModel)


def test_load_model_defaults_to_bedrock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENT_MODEL_PROVIDER")
    default_model = load_model()
    monkeypatch.setenv("BEDROCK_MODEL_ID", "us.anthropic.claude-3-5-haiku-20241022-v1:0")
    configured_model = load_model()

    assert isinstance(default_model, BedrockModel)
    assert default_model.get_config()["model_id"] == DEFAULT_BEDROCK_MODEL_ID
    assert configured_model.get_config()["model_id"] == "us.anthropic.claude-3-5-haiku-20241022-v1:0"


def test_load_model_rejects_unknown_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_MODEL_PROVIDER", "offline-random")

    with pytest.raises(ValueError, match="offline-random"):
        load_model()


def test_load_model_refuses_the_offline_provider_where_the_sandbox_gives_no_offline_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "offline_model", None)  # as in the shipped package: no such module

    with pytest.raises(ValueError, match="needs the module 'offline_model', which only the local sandbox provides"):
        load_model()
