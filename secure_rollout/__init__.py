"""The `secure-rollout` command line: operate the AgentCore secure rollout of a deployed stack or the offline sandbox.

It talks to the stack the way an operator would - CloudFormation for its outputs, Step Functions for executions,
CloudWatch Logs, SSM and Cognito for `invoke` - and never imports the rollout's functions or the sandbox (only
`secure-rollout sandbox up` loads the sandbox, from the source checkout). From the rollout's layer it uses one pure
module, `rollout_core.doctor` (the auth doctor's checks, shared with the smoke test): a wheel ships the layer's
package with the CLI; a source checkout puts its own `layers/rollout_core` first on the path, below.
"""

import sys
from pathlib import Path

_LAYER = Path(__file__).resolve().parent.parent / "layers" / "rollout_core"
if (_LAYER / "rollout_core" / "__init__.py").is_file() and str(_LAYER) not in sys.path:
    sys.path.insert(0, str(_LAYER))
