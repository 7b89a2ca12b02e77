"""rollout_core.state: the event types agree with what the ASL's Tasks pass, and every handler takes its own."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any, Literal, get_args, get_origin, get_type_hints, is_typeddict

import pytest
from rollout_core import state
from rollout_core.cognito import CognitoSettings
from rollout_core.settings import RolloutSettings

from tests.unit.helpers import FUNCTIONS_DIR, REPO_ROOT

# The Lambda each Task resource names (template.yaml: <Name>FunctionArn -> functions/<name>/) and its event type.
EVENTS: dict[str, type] = {
    "rollout_lock": state.RolloutLockEvent,
    "load_config": state.LoadConfigEvent,
    "plan": state.PlanEvent,
    "backup": state.BackupEvent,
    "delete_gateway": state.DeleteGatewayEvent,
    "check_status": state.CheckStatusEvent,
    "provision_gateway": state.ProvisionGatewayEvent,
    "provision_targets": state.ProvisionTargetsEvent,
    "switch_runtime": state.SwitchRuntimeEvent,
    "secure_runtime": state.SecureRuntimeEvent,
    "smoke_test": state.SmokeTestEvent,
    "report": state.ReportEvent,
    "restore": state.RestoreEvent,
}


def _function(resource: str) -> str | None:
    match = re.fullmatch(r"\$\{(\w+)FunctionArn\}", resource)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", match.group(1)).lower() if match else None


def lambda_tasks() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(state name, function, Parameters) of every Lambda Task, Parallel branches included."""

    def walk(states: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for name, body in states.items():
            if body["Type"] == "Task" and (function := _function(body["Resource"])) is not None:
                yield name, function, body.get("Parameters", {})
            for branch in body.get("Branches", []):
                yield from walk(branch["States"])

    asl = json.loads((REPO_ROOT / "statemachine" / "secure_rollout.asl.json").read_text())
    yield from walk(asl["States"])


TASKS = list(lambda_tasks())


def test_every_function_the_asl_calls_has_an_event_type() -> None:
    assert {function for _, function, _ in TASKS} == set(EVENTS)


@pytest.mark.parametrize(("task", "function", "parameters"), TASKS, ids=[t[0] for t in TASKS])
def test_each_task_passes_what_its_event_type_declares(task: str, function: str, parameters: dict[str, Any]) -> None:
    event = EVENTS[function]
    passed = {key.removesuffix(".$") for key in parameters}
    declared = event.__required_keys__ | event.__optional_keys__  # type: ignore[attr-defined]
    assert passed <= declared, f"{task} passes {sorted(passed - declared)}, which {event.__name__} does not declare"
    missing = event.__required_keys__ - passed  # type: ignore[attr-defined]
    assert not missing, f"{task} does not pass {sorted(missing)}, which {event.__name__} requires"
    hints = get_type_hints(event)
    for key, value in parameters.items():
        if not key.endswith(".$") and get_origin(hints[key]) is Literal:
            assert value in get_args(hints[key]), f"{task}: {key} {value!r} is not one of {get_args(hints[key])}"


@pytest.mark.parametrize("function", sorted(EVENTS))
def test_each_handler_takes_its_event_type(function: str) -> None:
    tree = ast.parse((FUNCTIONS_DIR / function / "app.py").read_text())
    handler = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "lambda_handler")
    annotation = handler.args.args[0].annotation
    assert isinstance(annotation, ast.Name)
    assert annotation.id == EVENTS[function].__name__


def test_the_shapes_are_typed_dicts_with_camel_case_keys() -> None:
    shapes = [value for value in vars(state).values() if is_typeddict(value)]
    assert len(shapes) > 30
    for shape in shapes:
        for key in get_type_hints(shape):
            assert re.fullmatch(r"[a-z][A-Za-z0-9]*", key), f"{shape.__name__}.{key} is not a camelCase wire key"


@pytest.mark.parametrize(
    ("shape", "source"), [(state.Settings, RolloutSettings), (state.CognitoConfig, CognitoSettings)], ids=str
)
def test_the_state_shapes_of_dataclasses_have_their_fields(shape: type, source: type) -> None:
    """`$.config.settings` and `$.config.cognito` are these dataclasses' asdict(): the same fields, by name."""
    assert sorted(get_type_hints(shape)) == sorted(f.name for f in dataclasses.fields(source))
