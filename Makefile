# AgentCore Secure Rollout - developer and CI entry points.
# Every target installs what it needs first (stamp files), so `make test` or `make demo`
# works straight from a fresh clone. Nothing here needs AWS credentials or any network beyond PyPI/npm.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-print-directory

PYTHON   ?= python3
TEMPLATE ?= template.yaml
ASL      ?= statemachine/secure_rollout.asl.json
# checkov needs its own venv (~1 min to install); `make test CHECKOV=0` skips it.
CHECKOV  ?= 1
# Skipped project-wide: Lambda reserved concurrency (115), DLQ (116) and VPC (117) do not fit functions
# invoked synchronously by Step Functions; 173 wants a customer-managed KMS key for Lambda environment
# variables, which here hold only names and settings (secrets live in SSM/Cognito, never in env vars).
# Skip anything else per resource with `Metadata: {checkov: {skip: [{id: ..., comment: ...}]}}`.
CHECKOV_SKIP ?= CKV_AWS_115,CKV_AWS_116,CKV_AWS_117,CKV_AWS_173
PYTEST_ARGS  ?=

VENV         := .venv
TOOLS_VENV   := .venv-tools
CHECKOV_VENV := .venv-checkov
PY           := $(VENV)/bin/python
ASL_OUT      := build/asl-check

DEV_STAMP     := $(VENV)/.installed
TOOLS_STAMP   := $(TOOLS_VENV)/.installed
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
NODE_STAMP    := node_modules/.installed
CLI_STAMP     := $(VENV)/.cli-installed
CHECKOV_REQS  := scripts/requirements-checkov.txt

MYPY_PATHS := $(wildcard functions layers sandbox agent tests scripts benchmarks secure_rollout)

# Offline, credential-free environment for tests, validation and the sandbox (never the real-account suite).
OFFLINE := env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AGENTCORE_ROLLOUT_AWS_TESTS \
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing \
	AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
	NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost \
	SAM_CLI_TELEMETRY=0
# The sandbox and benchmarks import the layer's package (rollout_core) the way the Lambda runtime does.
LAYER_PATH := PYTHONPATH=$(CURDIR)/layers/rollout_core:$(CURDIR)

.PHONY: help install lint lint-conflicts lint-ruff lint-format lint-mypy format validate validate-cfn validate-sam validate-asl validate-checkov \
	unit pytest test test-aws test-aws-cleanup demo bench agent-package build clean distclean

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 24

# --- install -----------------------------------------------------------------

# $(call venv_install,DIR,REQUIREMENTS): create DIR if missing, pip install, quiet unless it fails.
define venv_install
	@echo "==> $(1): pip install -r $(2)"
	@test -x $(1)/bin/python || { \
		$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
			|| { echo "error: $(PYTHON) must be Python >= 3.11" >&2; exit 1; }; \
		$(PYTHON) -m venv $(1); }
	@$(1)/bin/python -m pip install --disable-pip-version-check --no-input -q -r $(2) > $(1)/pip.log 2>&1 \
		|| { grep -v 'neither a file nor a directory' $(1)/pip.log >&2; exit 1; }
	@touch $@
endef

$(DEV_STAMP): requirements-dev.txt
	$(call venv_install,$(VENV),requirements-dev.txt)

# The `secure-rollout` command: this checkout installed editable (changes to secure_rollout/ need no reinstall);
# its dependencies come from requirements-dev.txt.
$(CLI_STAMP): pyproject.toml $(DEV_STAMP)
	@echo "==> $(VENV): pip install --no-deps -e . (the secure-rollout command)"
	@$(VENV)/bin/python -m pip install --disable-pip-version-check --no-input -q --no-deps -e . > $(VENV)/pip-cli.log 2>&1 \
		|| { cat $(VENV)/pip-cli.log >&2; exit 1; }
	@touch $@

$(TOOLS_STAMP): requirements-tools.txt
	$(call venv_install,$(TOOLS_VENV),requirements-tools.txt)

$(CHECKOV_STAMP): $(CHECKOV_REQS)
	$(call venv_install,$(CHECKOV_VENV),$(CHECKOV_REQS))

$(NODE_STAMP): package.json package-lock.json
	@echo "==> node_modules: npm ci"
	@npm ci --no-audit --no-fund --loglevel=error > /dev/null
	@touch $@

install: $(DEV_STAMP) $(CLI_STAMP) $(TOOLS_STAMP) $(NODE_STAMP) $(if $(filter 1,$(CHECKOV)),$(CHECKOV_STAMP)) ## create .venv (with the secure-rollout command), .venv-tools(, .venv-checkov), node_modules

# --- checks ------------------------------------------------------------------

lint: lint-conflicts lint-ruff lint-format lint-mypy ## merge markers, ruff check, ruff format --check, mypy

lint-conflicts:
	@! git grep -nE '^(<<<<<<< |>>>>>>> |=======$$)' -- . ':!*.lock' || { echo 'error: merge conflict markers (above)' >&2; exit 1; }

lint-ruff: $(DEV_STAMP)
	$(VENV)/bin/ruff check .

lint-format: $(DEV_STAMP)
	$(VENV)/bin/ruff format --check .

lint-mypy: $(DEV_STAMP)
	MYPYPATH=layers/rollout_core $(VENV)/bin/mypy $(MYPY_PATHS)

format: $(DEV_STAMP) ## ruff format + ruff check --fix (rewrites files)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

validate: validate-cfn validate-sam validate-asl $(if $(filter 1,$(CHECKOV)),validate-checkov) ## cfn-lint, sam validate --lint, asl-validator, checkov

validate-cfn: $(DEV_STAMP)
	$(VENV)/bin/cfn-lint $(TEMPLATE)

validate-sam: $(TOOLS_STAMP)
	@$(OFFLINE) $(TOOLS_VENV)/bin/sam validate --lint --template-file $(TEMPLATE)

# Placeholders (${Name}) must be defined in DefinitionSubstitutions; they are replaced by dummy ARNs for the validator.
validate-asl: $(DEV_STAMP) $(NODE_STAMP)
	$(PY) scripts/render_asl.py --template $(TEMPLATE) --out $(ASL_OUT) $(ASL)
	@node_modules/.bin/asl-validator $(foreach f,$(ASL),--json-path $(ASL_OUT)/$(notdir $(f)))

validate-checkov: $(CHECKOV_STAMP)
	@echo "checkov -f $(TEMPLATE)"
	@$(OFFLINE) $(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact --framework cloudformation \
		-f $(TEMPLATE) $(if $(CHECKOV_SKIP),--skip-check $(CHECKOV_SKIP))

unit: pytest

pytest: $(DEV_STAMP) ## pytest -q (alias: unit; PYTEST_ARGS="-k name" to filter)
	@echo "pytest -q $(PYTEST_ARGS)"
	@rc=0; $(OFFLINE) $(VENV)/bin/pytest -q $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests (exit 5)" >&2; fi; \
	exit $$rc

test: lint validate pytest ## lint + validate + pytest (what CI runs)

# The real-account suite (tests/aws): your AWS credentials and region, not the offline ones. It creates billed
# resources under a unique name and deletes them again (README, "Real-account tests (opt-in)"); `required` makes it
# fail, not skip, when it cannot run. Progress is streamed (-s); nothing it prints holds a secret.
test-aws: $(DEV_STAMP) $(TOOLS_STAMP) ## real AWS account: deploy, dry run, rollout, re-run, tear down (billed)
	@echo "pytest tests/aws (real AWS account)"
	@AGENTCORE_ROLLOUT_AWS_TESTS=required SAM_CLI_TELEMETRY=0 $(VENV)/bin/pytest -q -s -p no:cacheprovider tests/aws $(PYTEST_ARGS)

test-aws-cleanup: $(DEV_STAMP) ## remove what an interrupted test-aws run left behind: RUN=<run id>
	@test -n "$(RUN)" || { echo "usage: make test-aws-cleanup RUN=<run id printed by make test-aws>" >&2; exit 2; }
	@$(LAYER_PATH) $(PY) -m tests.aws.cleanup "$(RUN)"

# --- run ---------------------------------------------------------------------

demo: $(DEV_STAMP) ## run the offline sandbox demo
	@$(OFFLINE) $(LAYER_PATH) $(PY) -m sandbox.demo

bench: $(DEV_STAMP) ## run the benchmarks
	@$(OFFLINE) $(LAYER_PATH) $(PY) -m benchmarks.run

agent-package: $(DEV_STAMP) ## package the agent (scripts/agent_package.py)
	$(PY) -m scripts.agent_package

build: $(TOOLS_STAMP) ## sam build (needs the Lambda runtime's Python locally; not run in CI)
	SAM_CLI_TELEMETRY=0 $(TOOLS_VENV)/bin/sam build --template-file $(TEMPLATE)

clean: ## remove build output and caches (keeps venvs and node_modules)
	rm -rf .aws-sam build .pytest_cache .mypy_cache .ruff_cache
	find . -path ./node_modules -prune -o -path './.venv*' -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## also remove .venv, .venv-tools, .venv-checkov and node_modules
	rm -rf $(VENV) $(TOOLS_VENV) $(CHECKOV_VENV) node_modules
