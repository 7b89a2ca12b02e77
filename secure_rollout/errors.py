"""Every failure the CLI reports is one line: what went wrong and, where known, what to do. No tracebacks."""

from __future__ import annotations

import re

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    TokenRetrievalError,
)

ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "AuthorizationError",
    "NotAuthorized",
}
BAD_CREDENTIALS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "RequestExpired",
}
MAX_MESSAGE_CHARS = 400


class CliError(Exception):
    """A failure the user can act on: `message` (one line), optional `hint` (what to do), the exit code."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = one_line(message)
        self.hint = one_line(hint) if hint else None
        self.exit_code = exit_code


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    collapsed = re.sub(r"\s+", " ", text).strip()
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 3] + "..."


def from_aws(exc: Exception, sandbox: bool = False) -> CliError | None:
    """The one-line form of an AWS SDK failure (None: not one)."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | TokenRetrievalError):
        return CliError(
            f"no usable AWS credentials ({type(exc).__name__})",
            "set AWS_PROFILE (or pass --profile), or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables; "
            "or use the offline sandbox with --sandbox",
        )
    if isinstance(exc, ProfileNotFound):
        return CliError(str(exc), "list your profiles with `aws configure list-profiles`")
    if isinstance(exc, NoRegionError):
        return CliError("no AWS region", "pass --region, set AWS_REGION, or use --env with a samconfig.toml region")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        if sandbox:
            return CliError(
                "the offline sandbox does not answer (it stopped?)", "start it with `secure-rollout sandbox up`"
            )
        return CliError(f"cannot reach AWS: {exc}", "check your network, proxy settings and --region")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "Unknown")), str(error.get("Message", ""))
        operation = getattr(exc, "operation_name", "the call")
        if code in ACCESS_DENIED:
            return CliError(
                f"access denied: {operation}: {message}",
                "your identity needs this permission on the stack's resources (docs/security.md: who may operate)",
            )
        if code in BAD_CREDENTIALS:
            return CliError(
                f"AWS refused the credentials ({code}): {message}", "refresh them (e.g. `aws sso login`) and retry"
            )
        if code in ("ThrottlingException", "TooManyRequestsException", "Throttling"):
            return CliError(f"AWS throttled {operation} ({code})", "wait a moment and retry")
        return CliError(f"{operation} failed: {code}: {message}")
    if isinstance(exc, BotoCoreError):
        return CliError(f"AWS SDK error: {exc}")
    return None
