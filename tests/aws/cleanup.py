"""Remove what a real-account run left behind, by its run id: `make test-aws-cleanup RUN=<run id>`.

The same idempotent, name-based teardown steps the suite registers (helpers.resources.register_teardown), run against
the account and region of your credentials. Use it when a run was interrupted twice, killed, or reported
"LEFT BEHIND". Refuses the offline 'testing' credentials like the suite does.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys

import boto3

from tests.aws.helpers.gate import OPT_IN_ENV, REQUIRED, decide
from tests.aws.helpers.resources import (
    NAME_PREFIX,
    Clients,
    Poller,
    RunNames,
    Teardown,
    register_teardown,
    report_left_behind,
)

RUN_ID = re.compile(r"[0-9a-f]{8}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make test-aws-cleanup RUN=", description=__doc__)
    parser.add_argument("run_id", help=f"the run id the suite printed (resources are named {NAME_PREFIX}-<run id>*)")
    args = parser.parse_args(argv)
    run_id = str(args.run_id).removeprefix(f"{NAME_PREFIX}-")
    if not RUN_ID.fullmatch(run_id):
        parser.error(f"run id must be 8 lower-case hex characters like 0a1b2c3d; got {args.run_id!r}")
    decision = decide({**os.environ, OPT_IN_ENV: REQUIRED}, boto3.session.Session, shutil.which, need_tools=False)
    if decision.account is None:
        print(f"cleanup not run: {decision.reason}", file=sys.stderr)
        return 2
    account = decision.account
    names = RunNames(run_id, account.account_id, account.region, account.partition)
    print(f"cleaning up run {run_id} in account {account.account_id}, region {account.region}", file=sys.stderr)
    teardown = Teardown(run_id)
    register_teardown(
        teardown, Clients.for_session(boto3.session.Session(), account.region), names, Poller(interval=10, timeout=900)
    )
    left = teardown.run()
    report_left_behind(left, run_id)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
