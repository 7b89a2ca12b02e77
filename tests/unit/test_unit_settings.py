"""rollout_core.settings: what is fixed at deployment, what an execution may choose (pure functions, no AWS)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, fields, replace
from typing import Any, get_type_hints

import botocore.session
import pytest
from rollout_core.errors import InvalidConfiguration, InvalidExecutionInput
from rollout_core.settings import (
    ENV_VAR_KEY,
    MAX_TRIGGER_BYTES,
    NOT_WITH_RESTORE,
    REQUIRE_APPROVAL_KEY,
    SETTINGS,
    SETTINGS_BY_KEY,
    Deployment,
    InputRule,
    RolloutSettings,
    Setting,
    deployment_from_environment,
    gateway_url_env_var_for,
    input_keys,
    parse_execution_input,
    parse_trigger,
)

from scripts.render_asl import load_template
from tests.unit.helpers import DEFAULT_ENV, POOL_ID, PREFIX, REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yaml"
README = (REPO_ROOT / "README.md").read_text()

DEPLOYMENT = replace(deployment_from_environment(DEFAULT_ENV), artifactBucket="")
WITH_BUCKET = replace(DEPLOYMENT, artifactBucket="agent-code-bucket")


def test_deployment_is_read_from_the_function_environment() -> None:
    assert (
        Deployment(
            parameterPrefix=PREFIX,
            runtimeName="CustomerSupport",
            oldGatewayName="my-gateway",
            gatewayName="my-gateway-secure",
            targetName="WarrantyCheck",
            userPoolId=POOL_ID,
            artifactBucket="",
            sandboxCognitoEndpoint="",
            sandboxGatewayEndpoint="",
            agentToolCheck="answer",
            approvalPolicy="never",
            approvalTimeoutSeconds=86400,
            pollSeconds=0,
            bakeSeconds=0,
            onFailure="rollback",
            maxPolls=5,
        )
        == DEPLOYMENT
    )
    assert DEPLOYMENT.gateway_url_env_var == "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL"


@pytest.mark.parametrize("setting", [s for s in SETTINGS if not s.optional], ids=lambda s: s.key)
def test_a_missing_deployment_setting_is_a_broken_deployment(setting: Any) -> None:
    env = {k: v for k, v in DEFAULT_ENV.items() if k != setting.env_var}
    with pytest.raises(InvalidConfiguration) as caught:
        deployment_from_environment(env)
    assert setting.env_var in str(caught.value)
    assert setting.parameter in str(caught.value)


@pytest.mark.parametrize(
    ("env_var", "value"),
    [
        ("ROLLOUT_GATEWAY_NAME", "My-Gateway"),  # upper case: the id (and ARN) would not start with the name
        ("ROLLOUT_USER_POOL_ID", "not-a-pool"),
        # CloudFormation (template.yaml) only takes ASCII digits; Python's \d and str.isdigit take more.
        ("ROLLOUT_USER_POOL_ID", "us-east-\u0661_AbCdEf123"),
        ("ROLLOUT_POLL_SECONDS", "\u0661\u0660"),
        ("ROLLOUT_MAX_POLLS", "\u00b2"),
        ("ROLLOUT_SANDBOX_COGNITO_ENDPOINT", "https://evil.example.com"),
        ("ROLLOUT_SANDBOX_COGNITO_ENDPOINT", "http://10.0.0.1:80"),
        ("ROLLOUT_SANDBOX_GATEWAY_ENDPOINT", "https://gateway.example.com"),
        ("ROLLOUT_AGENT_TOOL_CHECK", "maybe"),
        ("ROLLOUT_AGENT_TOOL_CHECK", ""),
        ("ROLLOUT_MAX_POLLS", "many"),
        ("ROLLOUT_POLL_SECONDS", "301"),
        ("ROLLOUT_REQUIRE_APPROVAL", "sometimes"),
        ("ROLLOUT_APPROVAL_TIMEOUT_SECONDS", "0"),
        ("ROLLOUT_APPROVAL_TIMEOUT_SECONDS", "172801"),
    ],
)
def test_malformed_deployment_settings_are_refused(env_var: str, value: str) -> None:
    with pytest.raises(InvalidConfiguration, match=re.escape(env_var)):
        deployment_from_environment({**DEFAULT_ENV, env_var: value})


GATEWAY_NAME_PROBES = {
    "my-gateway": True,
    "g" * 48: True,
    "0-a-1": True,
    "my-gateway-": True,  # the model's pattern allows a trailing hyphen
    "g" * 49: False,
    "my_gateway": False,
    "my--gateway": False,
    "-gateway": False,
    "my gateway": False,
    "": False,
    "My-Gateway": False,  # valid for AgentCore, but the id (and ARN IAM matches) would not start with it
}


def _create_gateway_name_pattern() -> str:
    model = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
    request = model.operation_model("CreateGateway").input_shape
    assert request is not None
    return str(request.members["name"].metadata["pattern"])


@pytest.mark.parametrize("env_var", ["ROLLOUT_GATEWAY_NAME", "ROLLOUT_OLD_GATEWAY_NAME"])
@pytest.mark.parametrize(("name", "accepted"), GATEWAY_NAME_PROBES.items())
def test_gateway_names_follow_create_gateways_pattern_in_lower_case(env_var: str, name: str, accepted: bool) -> None:
    assert SETTINGS_BY_KEY["gatewayName"].pattern.pattern == _create_gateway_name_pattern()  # type: ignore[union-attr]
    env = {**DEFAULT_ENV, env_var: name}
    if accepted:
        assert name in asdict(deployment_from_environment(env)).values()
        return
    with pytest.raises(InvalidConfiguration) as caught:
        deployment_from_environment(env)
    message = str(caught.value)
    setting = next(s for s in SETTINGS if s.env_var == env_var)
    for expected in (env_var, setting.parameter, repr(name), _create_gateway_name_pattern(), "lower-case"):
        assert expected in message


@pytest.mark.parametrize("parameter", ["GatewayName", "OldGatewayName"])
def test_the_template_allows_exactly_the_gateway_names_the_rollout_accepts(parameter: str) -> None:
    allowed = load_template(TEMPLATE)["Parameters"][parameter]["AllowedPattern"]
    for name, accepted in GATEWAY_NAME_PROBES.items():
        assert bool(re.fullmatch(allowed, name)) is accepted, name


def test_every_setting_is_declared_once_with_a_parameter_and_an_env_var() -> None:
    assert len({s.key for s in SETTINGS}) == len(SETTINGS)
    assert len({s.parameter for s in SETTINGS}) == len(SETTINGS)
    assert len({s.env_var for s in SETTINGS}) == len(SETTINGS)
    assert set(asdict(DEPLOYMENT)) == {s.key for s in SETTINGS}


# --- one declaration: template.yaml, the ASL and the README agree with SETTINGS ----------------------------------

TEMPLATE_DOC = load_template(TEMPLATE)
# A pattern that is only alternatives of literal words is a choice: the template declares it as AllowedValues.
CHOICES = re.compile(r"[\w-]+(\|[\w-]+)*")


def template_constraints(setting: Setting) -> dict[str, Any]:
    """What template.yaml must declare for the setting, so that CloudFormation refuses at deploy time exactly what
    the functions would refuse at run time (deployment_from_environment)."""
    if setting.kind is int:
        return {"Type": "Number", "MinValue": setting.minimum, "MaxValue": setting.maximum}
    assert setting.pattern is not None, f"{setting.key}: a string setting needs a pattern"
    pattern = setting.pattern.pattern
    if CHOICES.fullmatch(pattern):
        return {"Type": "String", "AllowedValues": sorted(pattern.split("|"))}
    if setting.lower_case:  # only lower-case letters: what the pattern allows, without A-Z
        pattern = pattern.replace("A-Z", "")
    if setting.optional:  # empty means "not configured"
        pattern = f"({pattern})?"
    return {"Type": "String", "AllowedPattern": pattern}


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.key)
def test_template_parameter_constraints_agree_with_the_setting(setting: Setting) -> None:
    declared = dict(TEMPLATE_DOC["Parameters"][setting.parameter])
    if "AllowedValues" in declared:
        declared["AllowedValues"] = sorted(declared["AllowedValues"])
    constraints = {k: v for k, v in declared.items() if k not in ("Description", "Default")}
    assert constraints == template_constraints(setting)


@pytest.mark.parametrize("parameter", sorted(TEMPLATE_DOC["Parameters"]))
def test_every_template_parameter_is_constrained(parameter: str) -> None:
    """CloudFormation refuses a bad value before it creates anything, settings or not."""
    declared = TEMPLATE_DOC["Parameters"][parameter]
    bounds: dict[str, list[tuple[str, ...]]] = {
        "Number": [("MinValue", "MaxValue"), ("AllowedValues",)],
        "String": [("AllowedPattern",), ("AllowedValues",)],
    }
    assert any(all(k in declared for k in keys) for keys in bounds[declared["Type"]]), declared


def test_every_function_gets_every_setting_from_its_parameter() -> None:
    resources = TEMPLATE_DOC["Resources"]
    assert [n for n, r in resources.items() if r["Type"] == "AWS::Lambda::Function"] == [], "outside Globals"
    functions = {n: r for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert len(functions) >= 13
    shared = TEMPLATE_DOC["Globals"]["Function"]["Environment"]["Variables"]
    expected = {s.env_var: {"Ref": s.parameter} for s in SETTINGS}
    assert {k: v for k, v in shared.items() if k in expected or k.startswith("ROLLOUT_")} == expected
    for name, function in functions.items():
        own = ((function["Properties"].get("Environment") or {}).get("Variables")) or {}
        environment = {**shared, **own}  # SAM merges Globals into each function; the function's own value wins
        assert {s.env_var: environment.get(s.env_var) for s in SETTINGS} == expected, name


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.key)
def test_template_default_is_the_settings_default(setting: Setting) -> None:
    declared = TEMPLATE_DOC["Parameters"][setting.parameter]
    assert declared.get("Default") == setting.default
    if setting.default is not None:  # what an operator gets without an override passes the functions' own check
        deployment_from_environment({**DEFAULT_ENV, setting.env_var: str(setting.default)})


def test_deployment_and_rollout_settings_carry_each_setting_with_its_type() -> None:
    assert get_type_hints(Deployment) == {s.key: s.kind for s in SETTINGS}
    per_execution = [s for s in SETTINGS if s.rule is not InputRule.DEPLOYMENT]
    rollout = get_type_hints(RolloutSettings)
    assert {s.key: rollout.get(s.key) for s in per_execution} == {s.key: s.kind for s in per_execution}


def test_the_state_machine_reads_only_settings_that_exist() -> None:
    asl = (REPO_ROOT / "statemachine" / "secure_rollout.asl.json").read_text()
    read = set(re.findall(r"\$\.config\.settings\.(\w+)", asl))
    assert {"pollSeconds", "maxPolls", "dryRun"} <= read, "the scan finds the ASL's settings paths"
    assert read - {f.name for f in fields(RolloutSettings)} == set()
    assert "$.config.settings[" not in asl, "bracket paths would escape the scan"


def test_the_keys_a_restore_refuses_are_input_keys() -> None:
    assert set(NOT_WITH_RESTORE) <= set(input_keys())


def readme_table(title: str) -> dict[str, str]:
    """{name: the default column} of the README table under the line `title`; a row may name several keys."""
    lines = README.splitlines()
    rows = lines[lines.index(title) + 1 :]
    while not rows[0].startswith("|"):
        rows = rows[1:]
    table: dict[str, str] = {}
    for row in rows[2:]:  # after the header and its separator
        if not row.startswith("|"):
            break
        names, default, _ = (cell.strip() for cell in row.strip("|").split(" | ", 2))
        for name in re.findall(r"`(\w+)`", names):
            assert name not in table, f"{name} appears twice"
            table[name] = default
    return table


def shown(default: Any) -> str:
    """A default as the README shows it."""
    if default is None:
        return "required"
    return "empty" if default == "" else f"`{default}`"


def test_readme_parameter_table_lists_every_template_parameter_with_its_default() -> None:
    table = readme_table("Template parameters (`--parameter-overrides`):")
    parameters = TEMPLATE_DOC["Parameters"]
    assert sorted(table) == sorted(parameters)
    settings = {s.parameter: s for s in SETTINGS}
    defaults = {
        name: shown(settings[name].default if name in settings else declared.get("Default"))
        for name, declared in parameters.items()
    }
    assert table == defaults


def readme_input_default(key: str) -> str:
    """What the README's execution-input table must say a key defaults to."""
    setting = SETTINGS_BY_KEY.get(key)
    if key == ENV_VAR_KEY or (setting is not None and setting.rule is InputRule.PINNED):
        return "the deployed values"
    if setting is not None:
        return f"`{setting.parameter}`"
    if key == REQUIRE_APPROVAL_KEY:
        return f"per `{SETTINGS_BY_KEY['approvalPolicy'].parameter}`"
    value = getattr(parse_execution_input({}, DEPLOYMENT), key, None)
    return "none" if value is None else f"`{json.dumps(value)}`"


def test_readme_input_table_lists_every_input_key_with_its_default() -> None:
    table = readme_table("Execution input (every key optional):")
    assert sorted(table) == input_keys()
    assert table == {key: readme_input_default(key) for key in input_keys()}


@pytest.mark.parametrize("value", ["require", "answer"])
def test_agent_tool_check_is_a_per_execution_choice(value: str) -> None:
    assert parse_execution_input({"agentToolCheck": value}, DEPLOYMENT).agentToolCheck == value


@pytest.mark.parametrize("value", ["strict", "REQUIRE", True, None])
def test_agent_tool_check_takes_only_its_two_values(value: Any) -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input({"agentToolCheck": value}, DEPLOYMENT)
    assert "'agentToolCheck'" in str(caught.value)
    assert "require (" in str(caught.value)
    assert "answer (" in str(caught.value)


# --- execution input --------------------------------------------------------------------------------------------


def test_empty_and_none_input_take_the_deployment() -> None:
    raw: dict[str, Any] | None
    for raw in ({}, None):
        assert parse_execution_input(raw, DEPLOYMENT).to_dict() == {
            "parameterPrefix": PREFIX,
            "runtimeName": "CustomerSupport",
            "oldGatewayName": "my-gateway",
            "gatewayName": "my-gateway-secure",
            "targetName": "WarrantyCheck",
            "gatewayUrlEnvVar": "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL",
            "dryRun": False,
            "agentToolCheck": "answer",
            "approvalTimeoutSeconds": 86400,
            "pollSeconds": 0,
            "bakeSeconds": 0,
            "onFailure": "rollback",
            "maxPolls": 5,
            "agentArtifact": None,
            "artifactBucket": "",
            "requireApproval": False,
            "approvalReason": "",
            "restore": None,
            "checkDrift": False,
            "autoRemediate": False,
        }


def test_per_execution_knobs_override_the_deployment() -> None:
    settings = parse_execution_input({"dryRun": True, "pollSeconds": 7, "maxPolls": 1}, DEPLOYMENT)
    assert (settings.dryRun, settings.pollSeconds, settings.maxPolls) == (True, 7, 1)


@pytest.mark.parametrize("key", [s.key for s in SETTINGS if s.rule is InputRule.PINNED])
def test_pinned_names_may_be_repeated_but_never_changed(key: str) -> None:
    deployed = asdict(DEPLOYMENT)[key]
    assert getattr(parse_execution_input({key: deployed}, DEPLOYMENT), key) == deployed
    other = {"parameterPrefix": "/app/other-team", "runtimeName": "OtherAgent", "targetName": "Other"}.get(
        key, "other-gateway"
    )
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input({key: other}, DEPLOYMENT)
    message = str(caught.value)
    assert f"'{key}'" in message
    assert repr(other) in message
    assert repr(deployed) in message
    assert SETTINGS_BY_KEY[key].parameter in message


@pytest.mark.parametrize("key", [s.key for s in SETTINGS if s.rule is InputRule.DEPLOYMENT])
def test_deployment_only_settings_are_not_input_keys(key: str) -> None:
    with pytest.raises(InvalidExecutionInput, match="unknown key"):
        parse_execution_input({key: asdict(DEPLOYMENT)[key]}, DEPLOYMENT)


def test_the_gateway_url_env_var_follows_the_pattern_and_cannot_be_redirected() -> None:
    assert parse_execution_input({"gatewayUrlEnvVar": DEPLOYMENT.gateway_url_env_var}, DEPLOYMENT)
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input({"gatewayUrlEnvVar": "AGENT_MODEL_PROVIDER"}, DEPLOYMENT)
    assert "AGENT_MODEL_PROVIDER" in str(caught.value)
    assert "AGENTCORE_GATEWAY_<NAME>_URL" in str(caught.value)


def test_unknown_key_is_named_and_allowed_keys_listed() -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input({"gatewayname": "x", "dryRun": True}, DEPLOYMENT)
    message = str(caught.value)
    assert "unknown key(s) ['gatewayname']" in message
    for key in input_keys():
        assert key in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        pytest.param("pollSeconds", True, "got bool True", id="bool-where-int"),
        pytest.param("pollSeconds", "5", "got str '5'", id="str-where-int"),
        pytest.param("maxPolls", 2.5, "got float 2.5", id="float-where-int"),
        pytest.param("maxPolls", 0, "got 0", id="below-minimum"),
        pytest.param("pollSeconds", 301, "got 301", id="above-maximum"),
        pytest.param("dryRun", 1, "got 1", id="int-where-bool"),
        pytest.param("gatewayName", 7, "got int 7", id="int-where-str"),
        pytest.param("runtimeName", None, "got NoneType None", id="null-where-str"),
    ],
)
def test_wrong_types_and_bounds_are_rejected(key: str, value: Any, expected: str) -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input({key: value}, DEPLOYMENT)
    assert f"execution input '{key}' must be" in str(caught.value)
    assert expected in str(caught.value)


@pytest.mark.parametrize("raw", [[], ["dryRun"], "dryRun", 5, True])
def test_non_object_input_is_rejected(raw: Any) -> None:
    with pytest.raises(InvalidExecutionInput, match=f"must be a JSON object; got {type(raw).__name__}"):
        parse_execution_input(raw, DEPLOYMENT)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("my-gateway-secure", "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL"), ("gw1", "AGENTCORE_GATEWAY_GW1_URL")],
)
def test_gateway_url_env_var_convention(name: str, expected: str) -> None:
    assert gateway_url_env_var_for(name) == expected


# --- agentArtifact ----------------------------------------------------------------------------------------------


def test_artifact_from_the_deployed_bucket_is_accepted() -> None:
    artifact = {"s3Bucket": "agent-code-bucket", "s3Key": "CustomerSupport/v2.zip"}
    assert parse_execution_input({"agentArtifact": artifact}, WITH_BUCKET).agentArtifact == artifact


def test_artifact_is_refused_when_the_stack_has_no_artifact_bucket() -> None:
    with pytest.raises(InvalidExecutionInput, match="deployed without an ArtifactBucket"):
        parse_execution_input({"agentArtifact": {"s3Bucket": "b-u-c", "s3Key": "k.zip"}}, DEPLOYMENT)


@pytest.mark.parametrize(
    ("artifact", "expected"),
    [
        ({"s3Bucket": "someone-elses-bucket", "s3Key": "a.zip"}, "'someone-elses-bucket'"),
        ({"s3Bucket": "agent-code-bucket"}, "got keys"),
        ({"s3Bucket": "agent-code-bucket", "s3Key": "a.zip", "versionId": "1"}, "got keys"),
        ({"s3Bucket": "agent-code-bucket", "s3Key": "/abs.zip"}, "no leading '/'"),
        ({"s3Bucket": "agent-code-bucket", "s3Key": ""}, "S3 key"),
        ({"s3Bucket": "agent-code-bucket", "s3Key": "x\n.zip"}, "printable"),
        ("s3://agent-code-bucket/a.zip", "must be"),
    ],
)
def test_bad_artifacts_are_refused(artifact: Any, expected: str) -> None:
    with pytest.raises(InvalidExecutionInput, match=re.escape(expected)):
        parse_execution_input({"agentArtifact": artifact}, WITH_BUCKET)


# --- trigger ----------------------------------------------------------------------------------------------------


def test_parameter_store_trigger_is_accepted() -> None:
    trigger = {
        "source": "aws.ssm",
        "parameter": f"{PREFIX}/client_id",
        "operation": "Update",
        "time": "2026-11-27T13:57:03Z",
    }
    assert parse_trigger(trigger) == trigger
    assert parse_execution_input({"trigger": trigger}, DEPLOYMENT).dryRun is False


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ([{"source": "aws.ssm"}], "must be an object"),
        ("manual", "must be an object"),
        ({"parameter": f"{PREFIX}/client_id"}, "must name its 'source'"),
        ({"source": "aws.ssm", "detail": {"x": 1}}, "unknown field(s) ['detail']"),
        ({"source": "AWS SSM"}, "'trigger.source' must be"),
        ({"source": "aws.ssm", "operation": "Drop"}, "'trigger.operation' must be"),
        ({"source": "aws.ssm", "time": "yesterday"}, "'trigger.time' must be"),
        ({"source": "manual", "reason": "line\nbreak"}, "'trigger.reason' must be"),
        ({"source": "manual", "reason": 5}, "'trigger.reason' must be"),
        ({"source": "manual", "reason": "x" * (MAX_TRIGGER_BYTES + 1)}, f"at most {MAX_TRIGGER_BYTES} bytes"),
    ],
)
def test_bad_triggers_are_refused(trigger: Any, expected: str) -> None:
    with pytest.raises(InvalidExecutionInput, match=re.escape(expected)):
        parse_execution_input({"trigger": trigger}, DEPLOYMENT)


def test_huge_trigger_message_is_short() -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input({"trigger": {"source": "x", "reason": "y" * 200_000}}, DEPLOYMENT)
    assert len(str(caught.value)) < 400


# --- approval ----------------------------------------------------------------------------------------------------

SSM_TRIGGER = {"source": "aws.ssm", "parameter": f"{PREFIX}/client_id", "operation": "Update"}


@pytest.mark.parametrize(
    ("policy", "raw", "required", "why"),
    [
        ("never", {}, False, ""),
        ("never", {"trigger": SSM_TRIGGER}, False, ""),
        ("never", {"requireApproval": True}, True, "the execution input asked for approval"),
        ("never", {"requireApproval": False}, False, ""),
        ("eventbridge", {"trigger": SSM_TRIGGER}, True, "started by EventBridge (aws.ssm)"),
        ("eventbridge", {"trigger": {"source": "manual", "by": "ops"}}, False, ""),
        ("eventbridge", {}, False, ""),
        ("eventbridge", {"requireApproval": True}, True, "the execution input asked for approval"),
        ("always", {}, True, "RequireApproval=always"),
        ("always", {"requireApproval": True, "dryRun": True}, True, "RequireApproval=always"),
    ],
)
def test_approval_follows_the_deployment_and_an_input_may_ask_for_it(
    policy: str, raw: dict[str, Any], required: bool, why: str
) -> None:
    settings = parse_execution_input(raw, replace(DEPLOYMENT, approvalPolicy=policy))
    assert settings.requireApproval is required
    assert why in settings.approvalReason
    assert bool(settings.approvalReason) is required


@pytest.mark.parametrize(
    ("policy", "raw"), [("always", {}), ("eventbridge", {"trigger": SSM_TRIGGER})], ids=["always", "eventbridge"]
)
def test_an_input_can_never_skip_a_required_approval(policy: str, raw: dict[str, Any]) -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        parse_execution_input({**raw, "requireApproval": False}, replace(DEPLOYMENT, approvalPolicy=policy))
    message = str(caught.value)
    assert "'requireApproval' is false" in message
    assert f"RequireApproval={policy}" in message
    assert "never skip it" in message


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_require_approval_is_true_or_false(value: Any) -> None:
    with pytest.raises(InvalidExecutionInput, match="'requireApproval' must be true or false"):
        parse_execution_input({"requireApproval": value}, DEPLOYMENT)


def test_an_execution_may_shorten_or_lengthen_the_approval_timeout_within_bounds() -> None:
    assert parse_execution_input({"approvalTimeoutSeconds": 60}, DEPLOYMENT).approvalTimeoutSeconds == 60
    with pytest.raises(InvalidExecutionInput, match="from 1 to 172800"):
        parse_execution_input({"approvalTimeoutSeconds": 172801}, DEPLOYMENT)


def test_restore_takes_a_backup_key_of_this_stack_and_nothing_that_rolls_out() -> None:
    settings = parse_execution_input({"restore": "backups/rollout-1.json", "maxPolls": 9}, DEPLOYMENT)
    assert (settings.restore, settings.maxPolls) == ("backups/rollout-1.json", 9)
    assert parse_execution_input({}, DEPLOYMENT).restore is None
    with pytest.raises(InvalidExecutionInput, match="execution input 'restore' must be the key of one of this stack"):
        parse_execution_input({"restore": "s3://other-bucket/backups/rollout-1.json"}, DEPLOYMENT)
    for clash in ({"dryRun": False}, {"bakeSeconds": 0}, {"onFailure": "hold"}):
        with pytest.raises(InvalidExecutionInput, match=f"cannot be combined with {next(iter(clash))}"):
            parse_execution_input({"restore": "backups/rollout-1.json", **clash}, DEPLOYMENT)


def test_a_drift_check_may_remediate_and_stands_alone() -> None:
    scheduled = {"checkDrift": True, "autoRemediate": True, "trigger": {"source": "aws.scheduler", "reason": "x"}}
    settings = parse_execution_input(scheduled, DEPLOYMENT)
    assert (settings.checkDrift, settings.autoRemediate, settings.dryRun) == (True, True, False)
    assert parse_execution_input({"checkDrift": True}, DEPLOYMENT).autoRemediate is False
    for key in ("checkDrift", "autoRemediate"):
        with pytest.raises(InvalidExecutionInput, match=f"'{key}' must be true or false; got 'yes'"):
            parse_execution_input({"checkDrift": True, key: "yes"}, DEPLOYMENT)
    with pytest.raises(InvalidExecutionInput, match="'autoRemediate' is true, but 'checkDrift' is not"):
        parse_execution_input({"autoRemediate": True}, DEPLOYMENT)
    # Each refusal names both keys.
    with pytest.raises(InvalidExecutionInput, match="'checkDrift' cannot be combined with 'dryRun'"):
        parse_execution_input({"checkDrift": True, "dryRun": True}, DEPLOYMENT)
    with pytest.raises(InvalidExecutionInput, match="'checkDrift' cannot be combined with 'agentArtifact'"):
        parse_execution_input({"checkDrift": True, "agentArtifact": {"s3Bucket": "b", "s3Key": "k"}}, WITH_BUCKET)
    for key in ("checkDrift", "autoRemediate"):
        with pytest.raises(InvalidExecutionInput, match=f"'restore' cannot be combined with {key}"):
            parse_execution_input({"restore": "backups/rollout-1.json", key: False}, DEPLOYMENT)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"onFailure": "retry"}, "'onFailure' must be rollback"),
        ({"onFailure": True}, "'onFailure' must be rollback"),
        ({"bakeSeconds": 1801}, "'bakeSeconds' must be an integer number of seconds from 0 to 1800"),
        ({"bakeSeconds": -1}, "'bakeSeconds' must be an integer number of seconds from 0 to 1800"),
    ],
)
def test_failure_handling_and_bake_settings_are_bounded(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidExecutionInput, match=re.escape(problem)):
        parse_execution_input(raw, DEPLOYMENT)
    accepted = parse_execution_input({"onFailure": "hold", "bakeSeconds": 1800}, DEPLOYMENT)
    assert (accepted.onFailure, accepted.bakeSeconds) == ("hold", 1800)
