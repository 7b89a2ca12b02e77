"""The Cognito side of the trust boundary: which issuer the authorizers trust and where the client secret may go.

Parameter Store values are untrusted: whoever may write a parameter under the prefix must not be able to make the
runtime and the gateway trust another issuer, nor make the smoke test send `client_id:secret` to their server. So
the endpoints are derived from the user pool the stack was deployed for, and an SSM value is accepted only if it is
exactly the derived one:

- issuer / discovery: ``https://cognito-idp.<region>.amazonaws.com/<poolId>[/.well-known/openid-configuration]``;
- token endpoint: the pool's own domain (``DescribeUserPool`` → ``Domain`` →
  ``https://<domain>.auth.<region>.amazoncognito.com/oauth2/token``, or ``CustomDomain`` →
  ``https://<custom domain>/oauth2/token``).

A stack deployed in sandbox mode (template parameter ``SandboxCognitoEndpoint``, a loopback URL) derives both from
that one loopback base instead; loopback is refused otherwise. All of this runs before any secret is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import ClientError

from rollout_core.errors import CognitoThrottled, InvalidConfiguration
from rollout_core.settings import COGNITO_POOL_ID, Deployment, describe_value
from rollout_core.state import CognitoConfig

DISCOVERY_SUFFIX: Final = "/.well-known/openid-configuration"
TOKEN_PATH: Final = "/oauth2/token"

COGNITO_CLIENT_ID = re.compile(r"[\w+]{1,128}")
# RFC 6749 scope-token characters; Cognito scopes look like "<resource-server-id>/<scope-name>".
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]{1,256}")
MAX_SCOPES = 20
LAMBDA_ARN = re.compile(
    r"arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(-[a-z]+)+-\d):(?P<account>\d{12}):"
    r"function:[a-zA-Z0-9-_]{1,64}(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)

# The SSM parameters read under the prefix, and what each must look like (used in error messages).
SSM_PARAMETERS: Final[dict[str, str]] = {
    "cognito_discovery_url": "the discovery URL of the deployed user pool",
    "client_id": "a Cognito app client id (letters, digits, '_' or '+', 1-128 chars)",
    "pool_id": "the id of the user pool this stack was deployed for",
    "cognito_token_url": "the token endpoint of the deployed user pool's domain",
    "cognito_auth_scope": f"one to {MAX_SCOPES} space-separated OAuth scopes like customersupport/invoke",
    "warranty_check_lambda_arn": "a Lambda function ARN in this account and region",
}

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

DescribeUserPool = Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True)
class CognitoSettings:
    discoveryUrl: str
    clientId: str
    poolId: str
    tokenUrl: str
    scopes: list[str] = field(default_factory=list)

    def to_dict(self) -> CognitoConfig:
        return cast(CognitoConfig, asdict(self))  # the dataclass and the TypedDict have the same fields

    @property
    def scope(self) -> str:
        """The scopes as the token request's `scope` parameter."""
        return " ".join(self.scopes)


def issuer_base(region: str, sandbox_endpoint: str) -> str:
    return sandbox_endpoint or f"https://cognito-idp.{region}.amazonaws.com"


def expected_discovery_url(pool_id: str, region: str, sandbox_endpoint: str) -> str:
    return f"{issuer_base(region, sandbox_endpoint)}/{pool_id}{DISCOVERY_SUFFIX}"


def expected_token_urls(pool: Mapping[str, Any], region: str, sandbox_endpoint: str) -> list[str]:
    """The token endpoint(s) of the pool's own domain(s); empty when the pool has no domain (no OAuth endpoint)."""
    domain, custom_domain = pool.get("Domain"), pool.get("CustomDomain")
    if not domain and not custom_domain:
        return []
    if sandbox_endpoint:
        return [f"{sandbox_endpoint}{TOKEN_PATH}"]
    urls = []
    if domain:
        urls.append(f"https://{domain}.auth.{region}.amazoncognito.com{TOKEN_PATH}")
    if custom_domain:
        urls.append(f"https://{custom_domain}{TOKEN_PATH}")
    return urls


def _problem(prefix: str, name: str, expected: str, got: str) -> InvalidConfiguration:
    return InvalidConfiguration(f"SSM parameter {prefix}/{name} must be {expected}; got {describe_value(got)}")


def check_token_url(token_url: str, pool: Mapping[str, Any], region: str, sandbox_endpoint: str, prefix: str) -> None:
    """The only place the client secret may be sent: the deployed pool's own token endpoint."""
    expected = expected_token_urls(pool, region, sandbox_endpoint)
    if not expected:
        raise InvalidConfiguration(
            f"user pool {pool.get('Id')} has no domain, so it has no OAuth token endpoint; add a Cognito domain to "
            "the pool (the tutorial's stack creates one)"
        )
    if token_url not in expected:
        raise _problem(prefix, "cognito_token_url", " or ".join(expected), token_url)


def validate_cognito_parameters(
    values: Mapping[str, str],
    prefix: str,
    deployment: Deployment,
    region: str,
    account_id: str,
    describe_user_pool: DescribeUserPool,
) -> tuple[CognitoSettings, str]:
    """Validate the SSM values (name -> value, names relative to the prefix) against what can be derived.

    Returns the Cognito settings and the WarrantyCheck Lambda ARN. `describe_user_pool` is called only for the
    deployed pool, after every other check passed.
    """
    missing = [name for name in SSM_PARAMETERS if not values.get(name, "").strip()]
    if missing:
        listing = ", ".join(f"{prefix}/{name} ({SSM_PARAMETERS[name]})" for name in missing)
        raise InvalidConfiguration(f"missing SSM parameter(s): {listing}")
    cleaned = {name: values[name].strip() for name in SSM_PARAMETERS}

    pool_id = cleaned["pool_id"]
    if not COGNITO_POOL_ID.fullmatch(pool_id) or pool_id != deployment.userPoolId:
        raise _problem(
            prefix, "pool_id", f"{deployment.userPoolId!r}, the user pool this stack was deployed for", pool_id
        )
    if not pool_id.startswith(f"{region}_"):
        raise _problem(prefix, "pool_id", f"a user pool in this stack's region {region}", pool_id)
    if not COGNITO_CLIENT_ID.fullmatch(cleaned["client_id"]):
        raise _problem(prefix, "client_id", SSM_PARAMETERS["client_id"], cleaned["client_id"])
    scopes = cleaned["cognito_auth_scope"].split()
    if not 0 < len(scopes) <= MAX_SCOPES or not all(SCOPE_TOKEN.fullmatch(s) for s in scopes):
        raise _problem(
            prefix, "cognito_auth_scope", SSM_PARAMETERS["cognito_auth_scope"], cleaned["cognito_auth_scope"]
        )
    arn = LAMBDA_ARN.fullmatch(cleaned["warranty_check_lambda_arn"])
    if arn is None or arn["region"] != region or arn["account"] != account_id:
        raise _problem(
            prefix,
            "warranty_check_lambda_arn",
            f"a Lambda function ARN in this account and region (arn:aws:lambda:{region}:{account_id}:function:...)",
            cleaned["warranty_check_lambda_arn"],
        )

    discovery_url = expected_discovery_url(pool_id, region, deployment.sandboxCognitoEndpoint)
    if cleaned["cognito_discovery_url"] != discovery_url:
        raise _problem(prefix, "cognito_discovery_url", discovery_url, cleaned["cognito_discovery_url"])
    check_token_url(
        cleaned["cognito_token_url"], describe_user_pool(pool_id), region, deployment.sandboxCognitoEndpoint, prefix
    )
    cognito = CognitoSettings(
        discoveryUrl=discovery_url,
        clientId=cleaned["client_id"],
        poolId=pool_id,
        tokenUrl=cleaned["cognito_token_url"],
        scopes=sorted(set(scopes)),
    )
    return cognito, cleaned["warranty_check_lambda_arn"]


TRANSIENT_COGNITO_CODES: Final = {"TooManyRequestsException", "InternalErrorException", "ThrottlingException"}


def user_pool_reader(cognito_idp: CognitoIdentityProviderClient) -> DescribeUserPool:
    """DescribeUserPool as a callable, its failures named (the response carries no secret)."""

    def describe(pool_id: str) -> Mapping[str, Any]:
        try:
            return cognito_idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code in TRANSIENT_COGNITO_CODES:
                raise CognitoThrottled(f"DescribeUserPool {pool_id}: {code}") from None
            raise InvalidConfiguration(f"cannot read user pool {pool_id} (DescribeUserPool: {code})") from None

    return describe


def recheck_endpoints(
    cognito: Mapping[str, Any], deployment: Deployment, region: str, describe_user_pool: DescribeUserPool
) -> None:
    """Right before the secret is read: the state carries the URLs, but only the deployment decides them."""
    pool_id = cognito.get("poolId")
    if pool_id != deployment.userPoolId:
        raise InvalidConfiguration(
            f"refusing to read a client secret of user pool {describe_value(pool_id)}: this stack was deployed for "
            f"{deployment.userPoolId!r}"
        )
    discovery_url = expected_discovery_url(deployment.userPoolId, region, deployment.sandboxCognitoEndpoint)
    if cognito.get("discoveryUrl") != discovery_url:
        raise _problem(
            deployment.parameterPrefix, "cognito_discovery_url", discovery_url, str(cognito.get("discoveryUrl"))
        )
    check_token_url(
        str(cognito.get("tokenUrl")),
        describe_user_pool(deployment.userPoolId),
        region,
        deployment.sandboxCognitoEndpoint,
        deployment.parameterPrefix,
    )
