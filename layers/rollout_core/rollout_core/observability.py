"""What every Lambda task logs and traces: the execution it works for.

Every Task of the state machine passes the execution's ARN (`$$.Execution.Id`) as `executionArn` (a unit test checks
the ASL). `task_handler` wraps a handler once, for every function:

- Powertools Logger: the Lambda context on every line and the execution ARN as `correlation_id`, so one query
  (`correlation_id = "<execution ARN>"`) finds every line of one rollout across all functions; state is cleared per
  invocation (nothing appended in a warm environment reaches the next execution's lines); the event itself is
  never logged (it carries configuration, not secrets, but a log line is no place for state).
- Powertools Tracer: the handler's subsegment, responses never captured, and the execution ARN as the annotation
  `executionArn` (searchable in X-Ray: `annotation.executionArn = "..."`).
- A task that raises logs `task failed` with the exception before Lambda reports it: Lambda's own error line carries
  no correlation id. Exception messages are secret-free by rule (they become the execution's error cause).

    logger = Logger()
    tracer = Tracer()

    @task_handler(logger, tracer)
    def lambda_handler(event, context): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

from aws_lambda_powertools import Logger, Tracer

# The event key every Task passes `$$.Execution.Id` under; also the JMESPath Powertools reads the correlation id from.
EXECUTION_ARN_KEY: Final = "executionArn"
EXECUTION_ID_PATH: Final = "$$.Execution.Id"

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


def task_handler(logger: Logger, tracer: Tracer) -> Callable[[HandlerT], HandlerT]:
    """The one decorator every `lambda_handler` gets (see the module docstring)."""

    def decorate(handler: HandlerT) -> HandlerT:
        @functools.wraps(handler)
        def run(event: Any, context: Any) -> Any:
            # Set by inject_lambda_context from the event (None when a caller other than the state machine leaves it
            # out: logging must never fail a task).
            execution_arn = logger.get_correlation_id()
            if execution_arn:
                tracer.put_annotation(EXECUTION_ARN_KEY, execution_arn)
            try:
                return handler(event, context)
            except Exception as exc:
                logger.exception("task failed", extra={"errorType": type(exc).__name__})
                raise

        traced = tracer.capture_lambda_handler(capture_response=False)(run)
        # clear_state: a warm environment's next invocation (another execution, maybe) starts without the keys the
        # last one appended - only this invocation's context and correlation id.
        logged = logger.inject_lambda_context(log_event=False, correlation_id_path=EXECUTION_ARN_KEY, clear_state=True)(
            traced
        )
        return cast(HandlerT, functools.wraps(handler)(logged))

    return decorate
