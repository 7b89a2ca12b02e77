"""Identity-based policy evaluation with IAM's semantics (pure: no moto, no boto).

Reproduced: Action/NotAction (`*`/`?`, case-insensitive), Resource/NotResource (`*`/`?` per ARN component,
case-sensitive; a request on "*" - an action without resource types - is matched only by a "*" pattern), explicit
Deny beats Allow, no Allow is an implicit deny, Condition blocks (operators AND, keys AND, values OR) with String*,
Numeric*, Date*, Bool, Null, Arn*, IpAddress/NotIpAddress, the `IfExists` suffix and the `ForAnyValue:` /
`ForAllValues:` set operators; a key missing from the request fails a positive operator and satisfies a negated one
(`StringNotEquals`, `ArnNotLike`, ...), except with `IfExists` (satisfied) and `Null` (tests presence).
Not reproduced (fail closed: an Allow statement using them does not apply, a Deny statement does): policy variables
(`${aws:username}`), Binary* operators, unknown operators.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Literal

# A request context value: one string, or several for a multi-valued key (aws:TagKeys, aws:CalledVia).
ContextValue = str | tuple[str, ...]
# Raw JSON of a policy document.
PolicyJson = Mapping[str, object]


class Decision(StrEnum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicitDeny"
    EXPLICIT_DENY = "explicitDeny"


class UnsupportedPolicyFeature(ValueError):
    """The statement uses something the sandbox does not evaluate (it then fails closed)."""


@dataclass(frozen=True)
class AuthorizationRequest:
    action: str  # "bedrock-agentcore:UpdateAgentRuntime"
    resource: str  # one ARN, or "*" for an action without resource types
    context: Mapping[str, ContextValue] = field(default_factory=dict)  # keys lower-cased


@dataclass(frozen=True)
class Condition:
    operator: str  # as written, e.g. "ForAnyValue:StringLikeIfExists"
    key: str  # lower-cased
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    policy: str  # the policy's name: inline policy name or managed policy ARN
    label: str  # Sid, or "#<index>" for statements without one
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] | None = None
    conditions: tuple[Condition, ...] = ()

    def action_patterns(self, action: str) -> tuple[str, ...]:
        """The Action patterns that match `action` (for NotAction statements: the NotAction marker when it applies)."""
        if self.not_actions is not None:
            return () if any(_action_matches(p, action) for p in self.not_actions) else ("NotAction",)
        return tuple(p for p in self.actions if _action_matches(p, action))

    def resource_matches(self, resource: str) -> bool:
        if self.not_resources is not None:
            return not any(arn_matches(p, resource) for p in self.not_resources)
        return any(arn_matches(p, resource) for p in self.resources)

    def conditions_hold(self, context: Mapping[str, ContextValue]) -> bool:
        return all(condition_holds(c, context) for c in self.conditions)


@dataclass(frozen=True)
class PolicyDocument:
    name: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class Grant:
    """One statement's action pattern that took part in a decision (for least-privilege reports)."""

    policy: str
    statement: str
    action_pattern: str


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    allowed_by: tuple[Grant, ...] = ()
    denied_by: tuple[Grant, ...] = ()
    unsupported: tuple[str, ...] = ()  # why some statement failed closed

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOWED


# -- parsing -------------------------------------------------------------------------------------------------------


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(_condition_string(item) for item in items)


def _condition_string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_policy(name: str, document: PolicyJson | str) -> PolicyDocument:
    raw: object = json.loads(document) if isinstance(document, str) else document
    if not isinstance(raw, Mapping):
        raise ValueError(f"policy {name} is not a JSON object")
    statements = raw.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        raise ValueError(f"policy {name}: Statement must be an object or a list")
    return PolicyDocument(name, tuple(_parse_statement(name, i, s) for i, s in enumerate(statements)))


def _parse_statement(policy: str, index: int, raw: object) -> Statement:
    if not isinstance(raw, Mapping):
        raise ValueError(f"policy {policy}: statement {index} is not an object")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise ValueError(f"policy {policy}: statement {index} has Effect {effect!r}")
    conditions: list[Condition] = []
    condition_block = raw.get("Condition", {})
    if not isinstance(condition_block, Mapping):
        raise ValueError(f"policy {policy}: statement {index} has a malformed Condition")
    for operator, pairs in condition_block.items():
        if not isinstance(pairs, Mapping):
            raise ValueError(f"policy {policy}: condition {operator} is not an object")
        conditions.extend(Condition(str(operator), str(key).lower(), _strings(v)) for key, v in pairs.items())
    return Statement(
        policy=policy,
        label=str(raw.get("Sid") or f"#{index}"),
        effect=effect,
        actions=_strings(raw.get("Action")),
        not_actions=_strings(raw["NotAction"]) if "NotAction" in raw else None,
        resources=_strings(raw.get("Resource")),
        not_resources=_strings(raw["NotResource"]) if "NotResource" in raw else None,
        conditions=tuple(conditions),
    )


# -- matching ------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    _no_policy_variables(pattern)
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def _action_matches(pattern: str, action: str) -> bool:
    return wildcard_matches(pattern, action, ignore_case=True)


def arn_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: the six colon-separated components are matched one by one (the resource part, which may
    hold more colons, last), each with `*`/`?`; "*" alone matches anything, including the "*" of actions that have no
    resource type - which nothing else matches."""
    _no_policy_variables(pattern)
    if pattern == "*":
        return True
    pattern_parts = pattern.split(":", 5)
    arn_parts = arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    return all(wildcard_matches(p, a) for p, a in zip(pattern_parts, arn_parts, strict=True))


def _no_policy_variables(text: str) -> None:
    if "${" in text:
        raise UnsupportedPolicyFeature(f"policy variables are not evaluated by the sandbox: {text}")


# -- conditions ----------------------------------------------------------------------------------------------------

_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress",
}


def _parse_operator(operator: str) -> tuple[str | None, str, bool]:
    """'ForAnyValue:StringLikeIfExists' -> ('ForAnyValue', 'StringLike', True)."""
    set_operator: str | None = None
    if ":" in operator:
        set_operator, _, operator = operator.partition(":")
        if set_operator not in ("ForAnyValue", "ForAllValues"):
            raise UnsupportedPolicyFeature(f"unknown set operator {set_operator}")
    if_exists = operator.endswith("IfExists")
    return set_operator, operator.removesuffix("IfExists") if if_exists else operator, if_exists


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(operator: str, request_value: str, policy_value: str) -> bool:
    """The positive form of `operator` for one request value against one policy value."""
    _no_policy_variables(policy_value)
    match operator:
        case "StringEquals":
            return request_value == policy_value
        case "StringEqualsIgnoreCase":
            return request_value.lower() == policy_value.lower()
        case "StringLike":
            return wildcard_matches(policy_value, request_value)
        case "Bool":
            return request_value.lower() == policy_value.lower()
        case "ArnEquals" | "ArnLike":
            return arn_matches(policy_value, request_value)
        case "IpAddress":
            try:
                return ipaddress.ip_address(request_value) in ipaddress.ip_network(policy_value, strict=False)
            except ValueError:
                return False
        case (
            "NumericEquals"
            | "NumericLessThan"
            | "NumericLessThanEquals"
            | "NumericGreaterThan"
            | "NumericGreaterThanEquals"
        ):
            left, right = _number(request_value), _number(policy_value)
            return left is not None and right is not None and _ordered(operator.removeprefix("Numeric"), left, right)
        case "DateEquals" | "DateLessThan" | "DateLessThanEquals" | "DateGreaterThan" | "DateGreaterThanEquals":
            when, bound = _date(request_value), _date(policy_value)
            return when is not None and bound is not None and _ordered(operator.removeprefix("Date"), when, bound)
    raise UnsupportedPolicyFeature(f"condition operator {operator} is not evaluated by the sandbox")


def _ordered(relation: str, left: float | datetime, right: float | datetime) -> bool:
    match relation:
        case "Equals":
            return left == right
        case "LessThan":
            return left < right  # type: ignore[operator]
        case "LessThanEquals":
            return left <= right  # type: ignore[operator]
        case "GreaterThan":
            return left > right  # type: ignore[operator]
        case "GreaterThanEquals":
            return left >= right  # type: ignore[operator]
    raise UnsupportedPolicyFeature(f"unknown comparison {relation}")


def condition_holds(condition: Condition, context: Mapping[str, ContextValue]) -> bool:
    set_operator, operator, if_exists = _parse_operator(condition.operator)
    present = context.get(condition.key)
    if operator == "Null":
        # "Null": "true" means the key must be absent; several values are ORed like everywhere else.
        return any((present is None) == (v.lower() == "true") for v in condition.values)
    negated = operator in _NEGATED
    positive = _NEGATED.get(operator, operator)
    if present is None:
        if if_exists or set_operator == "ForAllValues":
            return True  # ForAllValues over an empty set is vacuously true
        if set_operator == "ForAnyValue":
            return False
        return negated

    def single(value: str) -> bool:
        matched = any(_compare(positive, value, p) for p in condition.values)
        return not matched if negated else matched

    values = present if isinstance(present, tuple) else (present,)
    if set_operator == "ForAllValues":
        return all(single(v) for v in values)
    if set_operator == "ForAnyValue":
        return any(single(v) for v in values)
    # A multi-valued key without a set operator: any value may satisfy a positive operator; a negated one needs all.
    return all(single(v) for v in values) if negated else any(single(v) for v in values)


# -- evaluation ----------------------------------------------------------------------------------------------------


def _applies(statement: Statement, request: AuthorizationRequest) -> tuple[str, ...]:
    """The statement's matching action patterns if it applies to the request; () if it does not."""
    patterns = statement.action_patterns(request.action)
    if not patterns or not statement.resource_matches(request.resource):
        return ()
    return patterns if statement.conditions_hold(request.context) else ()


def evaluate(policies: Sequence[PolicyDocument], request: AuthorizationRequest) -> Evaluation:
    allowed_by: list[Grant] = []
    denied_by: list[Grant] = []
    unsupported: list[str] = []
    for statement in _statements(policies):
        try:
            patterns = _applies(statement, request)
        except UnsupportedPolicyFeature as exc:
            # Fail closed: an Allow we cannot evaluate grants nothing, a Deny we cannot evaluate denies.
            unsupported.append(f"{statement.policy} {statement.label}: {exc}")
            patterns = ("<unsupported>",) if statement.effect == "Deny" else ()
        grants = [Grant(statement.policy, statement.label, p) for p in patterns]
        (denied_by if statement.effect == "Deny" else allowed_by).extend(grants)
    if denied_by:
        decision = Decision.EXPLICIT_DENY
    elif allowed_by:
        decision = Decision.ALLOWED
    else:
        decision = Decision.IMPLICIT_DENY
    return Evaluation(decision, tuple(allowed_by), tuple(denied_by), tuple(unsupported))


def _statements(policies: Iterable[PolicyDocument]) -> Iterator[Statement]:
    for policy in policies:
        yield from policy.statements


def allow_grants(policies: Iterable[PolicyDocument]) -> list[Grant]:
    """Every (statement, action pattern) an Allow statement grants - what a least-privilege report compares with use."""
    return [
        Grant(s.policy, s.label, pattern)
        for s in _statements(policies)
        if s.effect == "Allow"
        for pattern in (s.actions if s.not_actions is None else ("NotAction",))
    ]
