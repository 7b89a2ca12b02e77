"""`secure-rollout completion [bash|zsh|fish]` prints click's completion script for the shell, and the command
answers the completion requests that script makes (commands, choices)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import cli_env, run_cli

MARKERS = {
    "bash": "complete -o nosort -F _secure_rollout_completion secure-rollout",
    "zsh": "#compdef secure-rollout",
    "fish": "complete --no-files --command secure-rollout",
}


@pytest.mark.parametrize("shell", sorted(MARKERS))
def test_completion_prints_the_script_of_each_shell(shell: str, tmp_path: Path) -> None:
    result = run_cli("completion", shell, env=cli_env(tmp_path))
    assert result.returncode == 0, result.output
    assert MARKERS[shell] in result.stdout
    assert "_SECURE_ROLLOUT_COMPLETE=" in result.stdout
    assert result.stderr == ""


def test_completion_takes_the_shell_from_shell_or_says_to_name_it(tmp_path: Path) -> None:
    found = run_cli("completion", env=cli_env(tmp_path, SHELL="/usr/bin/zsh"))
    assert (found.returncode, found.stdout.startswith(MARKERS["zsh"])) == (0, True)
    unknown = run_cli("completion", env=cli_env(tmp_path, SHELL="/bin/tcsh"))
    assert unknown.returncode != 0
    assert unknown.stderr.splitlines() == [
        "error: cannot tell the shell from SHELL='/bin/tcsh'",
        "what to do: name it: secure-rollout completion {bash|zsh|fish}",
    ]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("secure-rollout ap", ["apply", "approve"]),
        ("secure-rollout apply --on-failure ", ["rollback", "hold"]),
        ("secure-rollout completion ", ["bash", "zsh", "fish"]),
    ],
)
def test_the_command_answers_the_scripts_requests(words: str, expected: list[str], tmp_path: Path) -> None:
    # What the bash script runs on <TAB>: the command itself, with the words so far.
    env = cli_env(
        tmp_path, _SECURE_ROLLOUT_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(len(words.split(" ")) - 1)
    )
    result = run_cli(env=env)
    assert result.returncode == 0, result.output
    assert result.stdout.splitlines() == [f"plain,{value}" for value in expected]


def test_completion_has_help(tmp_path: Path) -> None:
    result = run_cli("completion", "--help", env=cli_env(tmp_path))
    assert result.returncode == 0, result.output
    assert result.stdout.startswith("Usage: secure-rollout completion [OPTIONS] [bash|zsh|fish]")
    assert 'eval "$(secure-rollout completion bash)"' in result.stdout
