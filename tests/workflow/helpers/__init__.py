"""The workflow tests' helpers: a failed execution's cause (failure), the credential scan (leaks), the rollout
lock's queue and approvals (queue)."""
