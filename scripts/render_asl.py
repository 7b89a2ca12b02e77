"""Render ASL definitions with dummy DefinitionSubstitutions so asl-validator can check them offline.

For every ASL file given, find the state machine in the SAM/CloudFormation template that loads it
(``AWS::Serverless::StateMachine.DefinitionUri`` or ``AWS::StepFunctions::StateMachine.DefinitionS3Location``),
fail if the ASL uses a ``${Name}`` placeholder that the resource's ``DefinitionSubstitutions`` does not define,
then write a copy with every placeholder replaced by a dummy value into the output directory.
Silent on success; exits 1 with one line per problem otherwise.

Usage: python scripts/render_asl.py --template template.yaml --out .asl-check statemachine/x.asl.json [...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
STATE_MACHINE_KEYS = {
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::StepFunctions::StateMachine": "DefinitionS3Location",
}
ACCOUNT = "123456789012"
REGION = "us-east-1"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that accepts CloudFormation short-form tags (!Ref, !GetAtt, !Sub ...)."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    # YAML is a superset of JSON, so this reads both template formats.
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - _CfnLoader is a SafeLoader subclass
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: not a CloudFormation template")
    return data


def substitutions_by_file(template_path: Path) -> dict[Path, list[tuple[str, set[str]]]]:
    """Map resolved ASL path -> [(logical id, substitution keys)] for state machines loading a local file."""
    base = template_path.resolve().parent
    found: dict[Path, list[tuple[str, set[str]]]] = {}
    resources = load_template(template_path).get("Resources") or {}
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        key = STATE_MACHINE_KEYS.get(str(resource.get("Type")))
        props = resource.get("Properties") or {}
        location = props.get(key) if key else None
        if not isinstance(location, str) or location.startswith("s3://"):
            continue
        subs = props.get("DefinitionSubstitutions") or {}
        keys = set(subs) if isinstance(subs, dict) else set()
        found.setdefault((base / location).resolve(), []).append((logical_id, keys))
    return found


def dummy_value(name: str, whole_resource: bool) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    if whole_resource or name.endswith("Arn"):
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{safe}"
    return f"dummy-{safe}"


def render(node: Any, parent_key: str | None = None) -> Any:
    if isinstance(node, dict):
        return {k: render(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [render(v, parent_key) for v in node]
    if isinstance(node, str):
        whole = parent_key == "Resource" and PLACEHOLDER.fullmatch(node) is not None
        return PLACEHOLDER.sub(lambda m: dummy_value(m.group(1), whole), node)
    return node


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("asl", type=Path, nargs="+")
    args = parser.parse_args(argv)

    errors: list[str] = []
    by_file = substitutions_by_file(args.template)
    args.out.mkdir(parents=True, exist_ok=True)
    for asl in args.asl:
        owners = by_file.get(asl.resolve())
        if not owners:
            errors.append(f"{asl}: not loaded by any state machine (DefinitionUri) in {args.template}")
            continue
        text = asl.read_text(encoding="utf-8")
        used = set(PLACEHOLDER.findall(text))
        for logical_id, keys in owners:
            errors.extend(
                f"{asl}: placeholder ${{{name}}} is not in {logical_id}.DefinitionSubstitutions"
                for name in sorted(used - keys)
            )
        try:
            definition = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(f"{asl}: invalid JSON: {exc}")
            continue
        (args.out / asl.name).write_text(json.dumps(render(definition), indent=2) + "\n", encoding="utf-8")

    for line in errors:
        print(f"render_asl: {line}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
