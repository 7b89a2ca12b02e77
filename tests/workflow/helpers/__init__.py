"""The workflow tests' helpers: the control plane read back (control), a failed execution's cause (failure), the
credential scan (leaks), the rollout lock's queue and approvals (queue)."""
