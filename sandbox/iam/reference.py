"""The service authorization reference, as cfn-lint ships it (`cfnlint/data/AdditionalSpecs/Policies.json`).

Per IAM service prefix: `Actions[<lower-cased action>] -> {"Resources": [resource types]}` (no resource types: only
`"Resource": "*"` can match the action) and `Resources[<type>] -> {"ARNFormats": [...], "ConditionKeys": [...]}`.
Which resource types an action authorizes against is taken from here, never from a hand-written table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TypedDict

from botocore.model import ServiceModel


class _ActionEntry(TypedDict, total=False):
    Resources: list[str]


class _ResourceEntry(TypedDict, total=False):
    ARNFormats: list[str]
    ConditionKeys: list[str]


class _ServiceEntry(TypedDict, total=False):
    Actions: dict[str, _ActionEntry]
    Resources: dict[str, _ResourceEntry]


# Where botocore's signing name is not the IAM prefix (only services a sandbox run could reach are listed).
SIGNING_NAME_TO_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}

# Where the API operation is authorized as a differently named IAM action (AWS's service authorization reference).
OPERATION_TO_ACTION: dict[tuple[str, str], str] = {
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "InvokeFunction",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "DeleteObjects"): "DeleteObject",
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    ("s3", "CopyObject"): "PutObject",
}


class UnknownAction(LookupError):
    """The reference has no such action: the sandbox cannot tell what AWS would authorize, so it refuses."""


@dataclass(frozen=True)
class ResourceType:
    name: str
    arn_patterns: tuple[re.Pattern[str], ...]

    def accepts(self, arn: str) -> bool:
        return any(pattern.fullmatch(arn) for pattern in self.arn_patterns)


def iam_prefix(service_model: ServiceModel) -> str:
    signing_name = service_model.signing_name or service_model.endpoint_prefix
    return SIGNING_NAME_TO_IAM_PREFIX.get(signing_name, signing_name)


def action_name(prefix: str, operation: str) -> str:
    return OPERATION_TO_ACTION.get((prefix, operation), operation)


@cache
def _reference() -> dict[str, _ServiceEntry]:
    text = (resources.files("cfnlint.data.AdditionalSpecs") / "Policies.json").read_text()
    data: dict[str, _ServiceEntry] = json.loads(text)
    return data


def _arn_regex(arn_format: str) -> re.Pattern[str]:
    # The formats are regexes except for ${Partition}/${Region}/${Account}-style variables.
    return re.compile(re.sub(r"\$\{[^}]+\}", "[^:]*", arn_format))


def resource_types(action: str) -> tuple[ResourceType, ...]:
    """The resource types `prefix:Action` authorizes against; empty means only "*" matches it.

    Raises UnknownAction for an action the reference does not list.
    """
    prefix, _, name = action.partition(":")
    service = _reference().get(prefix)
    if service is None:
        raise UnknownAction(f"IAM service prefix {prefix!r} is not in the service authorization reference")
    entry = service.get("Actions", {}).get(name.lower())
    if entry is None:
        raise UnknownAction(f"{action} is not an action of {prefix} in the service authorization reference")
    return tuple(_resource_type(prefix, type_name) for type_name in entry.get("Resources", []))


@cache
def _resource_type(prefix: str, type_name: str) -> ResourceType:
    formats = _reference()[prefix].get("Resources", {}).get(type_name, {}).get("ARNFormats", [])
    return ResourceType(type_name, tuple(_arn_regex(f) for f in formats))


def is_known_action(action: str) -> bool:
    try:
        resource_types(action)
    except UnknownAction:
        return False
    return True
