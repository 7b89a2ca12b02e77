"""rollout_core.errors: the tree its docstring draws, the classes and the state machine's Retry blocks agree."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from rollout_core import errors

from tests.unit.helpers import REPO_ROOT

ASL = json.loads((REPO_ROOT / "statemachine" / "secure_rollout.asl.json").read_text(encoding="utf-8"))
# "    │   ├── Name   annotation": the depth is where the name starts.
TREE_LINE = re.compile(r"^(?P<indent> {4}(?:[│ ] {3})*(?:[├└]── )?)(?P<name>[A-Z]\w+) {2,}(?P<note>\S.*)$")
EVERY_LAMBDA_TASK_BUT = "retried by every Lambda Task but "


def tree() -> list[tuple[str, str | None, str]]:
    """(name, parent name, annotation) of every line of the docstring's tree, in order."""
    lines: list[tuple[str, str | None, str]] = []
    parents: list[tuple[int, str]] = []  # (depth, name) of the open ancestors
    for line in (errors.__doc__ or "").splitlines():
        match = TREE_LINE.match(line)
        if match is None:
            continue
        depth = len(match["indent"])
        while parents and parents[-1][0] >= depth:
            parents.pop()
        lines.append((match["name"], parents[-1][1] if parents else None, match["note"]))
        parents.append((depth, match["name"]))
    return lines


def error_classes() -> dict[str, type[errors.RolloutError]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.RolloutError)
    }


def states(container: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in container["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from states(state[key])


def lambda_tasks() -> set[str]:
    return {n for n, s in states(ASL) if s["Type"] == "Task" and str(s.get("Resource", "")).endswith("FunctionArn}")}


def retried_by() -> dict[str, set[str]]:
    """Our error names in the ASL's Retry blocks -> the states that retry them (Lambda.*, States.* are AWS's)."""
    found: dict[str, set[str]] = {}
    for name, state in states(ASL):
        for retry in state.get("Retry", []):
            for error in retry["ErrorEquals"]:
                if not error.startswith(("Lambda.", "States.")):
                    found.setdefault(error, set()).add(name)
    return found


def test_the_tree_names_every_error_class_once_under_its_base_class() -> None:
    drawn = tree()
    names = [name for name, _, _ in drawn]
    assert len(names) == len(set(names)), "an error is drawn twice"
    classes = error_classes()
    assert set(names) == set(classes)
    assert drawn[0][:2] == ("RolloutError", None)
    for name, parent, _ in drawn[1:]:
        assert classes[name].__bases__ == (classes[str(parent)],), f"{name} is drawn under {parent}"


def test_every_error_the_asl_retries_exists_and_is_transient() -> None:
    classes = error_classes()
    retried = retried_by()
    assert retried, "the ASL retries none of our errors: the parser no longer finds them"
    for error in retried:
        assert error in classes, f"the ASL retries {error}, which rollout_core.errors does not define"
        assert issubclass(classes[error], errors.TransientError), f"{error} is retried but not a TransientError"
    transient = {
        n for n, c in classes.items() if issubclass(c, errors.TransientError) and c is not errors.TransientError
    }
    assert transient == set(retried), "a TransientError no state retries"
    assert "AgentCoreReadFailed" not in retried  # a denied or missing read never heals by itself


def test_the_tree_says_exactly_which_states_retry_each_error() -> None:
    retried = retried_by()
    for name, _, note in tree():
        if not note.startswith("retried by "):
            assert name not in retried, f"{name} is retried by {sorted(retried.get(name, ()))}; the tree says {note!r}"
            continue
        if note.startswith(EVERY_LAMBDA_TASK_BUT):
            said = lambda_tasks() - set(note.removeprefix(EVERY_LAMBDA_TASK_BUT).split(", "))
        else:
            said = set(note.removeprefix("retried by ").split(", "))
        assert said == retried.get(name, set()), name


def test_every_error_name_the_state_machine_sets_itself_is_a_class() -> None:
    """Pass states that name a failure (NameRejection, RollbackFailed) use the names of rollout_core.errors."""
    named = {
        value
        for _, state in states(ASL)
        for key, value in (state.get("Parameters") or {}).items()
        if key in ("Error", "errorType")
    }
    assert named == {"RolloutRejected", "RollbackFailed"}
    assert named <= set(error_classes())
