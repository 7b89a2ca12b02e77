"""`python -m secure_rollout` = the `secure-rollout` command."""

from secure_rollout.cli import main

main(prog_name="secure-rollout")
