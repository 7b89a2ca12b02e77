"""The runtime's answer to an invocation, read one way by every caller: the smoke test (functions/smoke_test), the
CLI's `invoke` (secure_rollout/invoke.py) and the sandbox's OAuth caller (sandbox/callers.py).

An AgentCore runtime streams its answer as server-sent events (`text/event-stream`): an event's `data:` lines join with
newlines, `event:` names its type, a blank line ends it. Each event's data is JSON when it decodes (else the text):

- an `error` event, or an object with an `error` key (bedrock-agentcore streams a failure as
  `{"error", "error_type", "message"}`): a failure, of which only the type is kept (the message may echo anything);
- an object with a `metadata` object: the agent's own report, `metadata.toolsUsed` the tools it called;
- anything else: answer text (a JSON string as its value, other JSON re-dumped).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

SSE_CONTENT_TYPE: Final = "text/event-stream"
MESSAGE: Final = "message"  # an event's type when it names none


@dataclass
class StreamContent:
    """What an answer contained: its text, the tools the agent reports, and the types of its error events."""

    answer: str = ""
    tools_used: list[str] = field(default_factory=list)
    error_types: list[str] = field(default_factory=list)

    def take(self, kind: str, data: str) -> str:
        """Add one event (`kind`: its type, `data`: its joined data lines); returns the answer text it added."""
        try:
            decoded: Any = json.loads(data)
        except ValueError:
            decoded = data
        if kind == "error" or (isinstance(decoded, dict) and "error" in decoded):
            error_type = decoded.get("error_type") if isinstance(decoded, dict) else None
            self.error_types.append(str(error_type) if isinstance(error_type, str) else "error")
            return ""
        if isinstance(decoded, dict) and isinstance(decoded.get("metadata"), dict):
            self.tools_used += [str(name) for name in decoded["metadata"].get("toolsUsed") or []]
            return ""
        text = decoded if isinstance(decoded, str) else json.dumps(decoded)
        self.answer += text
        return text


def _field(line: str, name: str) -> str | None:
    """The value of an SSE field line `name: value` (one optional space after the colon), else None."""
    if not line.startswith(f"{name}:"):
        return None
    value = line[len(name) + 1 :]
    return value[1:] if value.startswith(" ") else value


def events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event type, data) of each event of an SSE stream, as its lines (without line endings) arrive; an event the
    stream ends in without a blank line counts. Other fields (`id:`, `retry:`, `: comment`) are ignored."""
    data_lines: list[str] = []
    kind = MESSAGE
    for line in _then_blank(lines):
        if (data := _field(line, "data")) is not None:
            data_lines.append(data)
        elif (named := _field(line, "event")) is not None:
            kind = named.strip() or MESSAGE
        elif not line and (data_lines or kind != MESSAGE):
            yield kind, "\n".join(data_lines)
            data_lines, kind = [], MESSAGE


def _then_blank(lines: Iterable[str]) -> Iterator[str]:
    yield from lines
    yield ""


def is_event_stream(content_type: str) -> bool:
    return SSE_CONTENT_TYPE in content_type


def parse(body: bytes, content_type: str) -> StreamContent:
    """A whole answer: SSE events taken one by one; any other body is the answer text as it came."""
    text = body.decode("utf-8", errors="replace")
    if not is_event_stream(content_type):
        return StreamContent(text)
    content = StreamContent()
    for kind, data in events(text.splitlines()):
        content.take(kind, data)
    return content
