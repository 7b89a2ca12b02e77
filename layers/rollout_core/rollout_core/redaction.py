"""Keeping credentials out of everything a function writes: logs, results, exceptions.

Two mechanisms, both needed:
- library loggers that print request/response bodies at DEBUG (botocore logs DescribeUserPoolClient's response,
  client secret included, when the root logger is at DEBUG - which is what Lambda's application log level DEBUG
  does) are pinned to WARNING, whatever the root level is;
- text that came back from somewhere we do not control (an agent's answer may echo anything) is redacted before it
  is copied anywhere: token-shaped runs are cut, and so is any fragment of a known secret.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final

# Loggers of libraries that log wire data (bodies, headers) at DEBUG. Pinned, so a DEBUG root cannot reach them.
WIRE_LOGGERS: Final = (
    "botocore",
    "boto3",
    "urllib3",
    "s3transfer",
    "httpx",
    "httpcore",
    "aws_lambda_powertools.utilities.parameters",
)

REDACTED: Final = "[redacted]"
# JWTs, base64url/base64 runs and hex runs long enough to be a credential or a fragment of one.
_TOKEN_SHAPED = re.compile(r"[A-Za-z0-9_\-+/=.~]{16,}")
# A shorter fragment of a known secret still counts: any 8 consecutive characters of it.
SECRET_FRAGMENT_CHARS: Final = 8


def pin_library_loggers(level: int = logging.WARNING) -> None:
    for name in WIRE_LOGGERS:
        library_logger = logging.getLogger(name)
        library_logger.setLevel(level)
        # Child loggers set to DEBUG explicitly would bypass the parent's level: reset them too.
        for child_name, child in list(logging.root.manager.loggerDict.items()):
            if child_name.startswith(f"{name}.") and isinstance(child, logging.Logger) and child.level < level:
                child.setLevel(level)


def contains_fragment(text: str, secret: str, size: int = SECRET_FRAGMENT_CHARS) -> bool:
    if not secret:
        return False
    if len(secret) <= size:
        return secret in text
    return any(secret[i : i + size] in text for i in range(len(secret) - size + 1))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with token-shaped runs replaced; emptied entirely if any fragment of a known secret survives."""
    cleaned = _TOKEN_SHAPED.sub(REDACTED, text)
    if any(contains_fragment(cleaned, secret) for secret in secrets if secret):
        return REDACTED
    return cleaned
