"""Domain code shared by the secure-rollout Lambda functions (deployed as a Lambda layer)."""
