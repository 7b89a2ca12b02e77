"""The real-account suite's helpers: whether it may run (gate), the starting point and teardown (resources), the
stack and its executions (stack)."""
