"""The `secure-rollout` command line: operate the AgentCore secure rollout of a deployed stack or the offline sandbox.

It talks to the stack the way an operator would - CloudFormation for its outputs, Step Functions for executions,
CloudWatch Logs, SSM and Cognito for `invoke` - and never imports the rollout's functions or the sandbox (only
`secure-rollout sandbox up` loads the sandbox, from the source checkout).
"""
