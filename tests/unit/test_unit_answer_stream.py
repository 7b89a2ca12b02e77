"""rollout_core.answer_stream: the one reader of the runtime's streamed answer (smoke test, CLI, sandbox caller)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rollout_core import answer_stream
from rollout_core.answer_stream import StreamContent


def test_events_join_data_lines_name_types_and_flush_the_last_event() -> None:
    lines = ['data: "a"', "", "event: error", 'data: {"x": 1}', "data: two", "", ": comment", "id: 7", "data: end"]
    assert list(answer_stream.events(lines)) == [
        ("message", '"a"'),
        ("error", '{"x": 1}\ntwo'),
        ("message", "end"),  # the stream ended without a blank line
    ]


def test_events_yield_each_event_before_the_next_line_is_read() -> None:
    read: list[str] = []

    def arriving() -> Iterator[str]:
        for line in ('data: "first"', "", 'data: "second"', ""):
            read.append(line)
            yield line

    stream = answer_stream.events(arriving())
    assert next(stream) == ("message", '"first"')
    assert read == ['data: "first"', ""]  # the CLI writes the first chunk while the rest is still streaming
    assert list(stream) == [("message", '"second"')]


def test_an_event_type_without_data_is_still_an_event() -> None:
    assert list(answer_stream.events(["event: error", "", 'data: "after"'])) == [("error", ""), ("message", '"after"')]


@pytest.mark.parametrize(
    ("kind", "data", "added", "tools", "errors"),
    [
        pytest.param("message", '"hello"', "hello", [], [], id="json-string"),
        pytest.param("message", "plain", "plain", [], [], id="not-json"),
        pytest.param("message", '{"delta": 1}', '{"delta": 1}', [], [], id="json-object-redumped"),
        pytest.param("message", '{"metadata": {"toolsUsed": ["t1", "t2"]}}', "", ["t1", "t2"], [], id="metadata"),
        pytest.param("message", '{"error": "x", "error_type": "ValueError"}', "", [], ["ValueError"], id="error-obj"),
        pytest.param("message", '{"error": "x", "error_type": 5}', "", [], ["error"], id="error-type-not-text"),
        pytest.param("error", '"boom"', "", [], ["error"], id="error-event"),
    ],
)
def test_take_sorts_each_event_into_answer_tools_or_errors(
    kind: str, data: str, added: str, tools: list[str], errors: list[str]
) -> None:
    content = StreamContent("before:")
    assert content.take(kind, data) == added
    assert content == StreamContent("before:" + added, tools, errors)


def test_parse_reads_an_sse_body_and_keeps_any_other_body_verbatim() -> None:
    body = b'data: "Hi "\n\ndata: "there"\r\n\r\ndata: {"metadata": {"toolsUsed": ["w"]}}\n\n\xff'
    assert answer_stream.parse(body, "text/event-stream; charset=utf-8") == StreamContent("Hi there", ["w"], [])
    assert answer_stream.parse(b'"not SSE"', "application/json") == StreamContent('"not SSE"')
