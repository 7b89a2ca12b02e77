"""What authorization needs to know about the account's resources, read straight from moto's backends (no API call,
so nothing here is itself subject to IAM)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from moto.backends import get_backend
from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends
from moto.sns.models import sns_backends
from moto.utilities.utils import get_partition

from sandbox.iam.requests import UnmappedRequest

logger = logging.getLogger(__name__)


def _arn_part(arn: str, index: int, default: str) -> str:
    parts = arn.split(":")
    return parts[index] if arn.startswith("arn:") and len(parts) > index and parts[index] else default


class MotoFacts:
    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region

    # -- KMS -----------------------------------------------------------------------------------------------------

    def _resolve_key(self, key_id: str) -> tuple[str, bool]:
        """(key ARN, AWS-managed?) for a key id, key ARN, alias name or alias ARN."""
        region = _arn_part(key_id, 3, self.region)
        account = _arn_part(key_id, 4, self.account_id)
        aws_managed = key_id.startswith("alias/aws/") or ":alias/aws/" in key_id
        backend = kms_backends[account][region]
        try:
            key = backend.keys[backend.any_id_to_key_id(key_id)]
        except (KeyError, TypeError, AttributeError):
            if aws_managed:  # an AWS-managed alias moto never created: the alias ARN names it well enough
                alias = key_id if key_id.startswith("arn:") else f"arn:aws:kms:{region}:{account}:{key_id}"
                return alias, True
            if ":key/" in key_id:
                return key_id, False  # a key moto does not hold: its ARN is all authorization needs
            if "alias/" in key_id:
                raise UnmappedRequest(f"sandbox IAM cannot resolve KMS key {key_id}") from None
            return f"arn:aws:kms:{region}:{account}:key/{key_id}", False
        return str(key.arn), aws_managed or key.key_manager == "AWS"

    def _customer_managed(self, key_id: str) -> str | None:
        """Key ARN if `key_id` names a customer-managed key; None for an AWS-managed one (aws/sns, aws/s3: their key
        policies let the service use them for every principal of the account, so no identity grant is needed)."""
        arn, aws_managed = self._resolve_key(key_id)
        return None if aws_managed else arn

    def kms_key_arn(self, key_id: str) -> str | None:
        return self._resolve_key(key_id)[0]

    def object_kms_key(self, bucket: str, key: str, version_id: str | None) -> str | None:
        backend = s3_backends[self.account_id][get_partition(self.region)]
        try:
            stored = backend.get_object(bucket, key, version_id=version_id)
        except Exception:  # a missing bucket/key/version: AWS would fail the call, not on IAM
            return None
        if stored is None or stored.encryption != "aws:kms":
            return None
        return self._customer_managed(stored.kms_key_id) if stored.kms_key_id else None  # None: aws/s3

    def topic_kms_key(self, topic_arn: str) -> str | None:
        region = _arn_part(topic_arn, 3, self.region)
        topic = sns_backends[self.account_id][region].topics.get(topic_arn)
        if topic is None or not topic.kms_master_key_id:
            return None
        return self._customer_managed(str(topic.kms_master_key_id))

    # -- IAM and tags --------------------------------------------------------------------------------------------

    def role_arn(self, role_name: str) -> str | None:
        try:
            return str(iam_backends[self.account_id][get_partition(self.region)].get_role(role_name).arn)
        except Exception:  # moto raises its own NotFound
            return None

    def resource_tags(self, arn: str) -> Mapping[str, str]:
        """Tags of a bedrock-agentcore, Lambda or SNS resource; {} for other services (aws:ResourceTag fails closed)."""
        service = _arn_part(arn, 2, "")
        region = _arn_part(arn, 3, self.region)
        try:
            if service == "bedrock-agentcore":
                tagger = bedrockagentcorecontrol_backends[self.account_id][region].tagger
                return dict(tagger.get_tag_dict_for_resource(arn))
            if service == "lambda":
                return dict(get_backend("lambda")[self.account_id][region].list_tags(arn))
            if service == "sns":
                return dict(sns_backends[self.account_id][region].list_tags_for_resource(arn))
        except Exception:  # an unknown resource has no tags
            logger.debug("sandbox IAM: no tags readable for %s", arn)
        return {}
