# Single entry point: set-up, tests, offline render and the sandbox demo.
STACK ?= local
PY := .venv/bin/python

.PHONY: setup test test-arm64 lint pytest render check image demo bench bench-quick schema clean

setup:
	@bash scripts/setup.sh

# The README's test command: installs what is missing, then lints and runs the whole suite.
test: setup lint pytest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

pytest: setup
	$(PY) -m pytest

# The arm64 image built under qemu-user-static and run on a sandbox node (root; minutes on a
# fresh machine, so not part of `make test`'s 10-minute suite).
test-arm64: setup
	$(PY) -m pytest -m arm64 tests/sandbox/test_container_arm64.py

render: setup
	$(PY) -m testbed.harness.offline --stack $(STACK)

# Offline policy check: STACK is a stack name or a stack file path; exit 1 on a mandatory violation.
check: setup
	$(PY) -m testbed.harness.policy_check --stack $(STACK)

# The agent image with Debian's podman (root); the base is made once per machine from Debian's
# archive. The last line printed is the image reference. ARCH=arm64 builds arm64 under emulation.
ARCH ?= amd64
image: setup
	$(PY) -m agent_image.build --arch $(ARCH)

# The README's run command (root: network namespaces). Renders STACK, runs it on a namespace
# cluster, probes every path, changes the config live; exits non-zero on any wrong probe.
# RUNTIME=container runs every node's agent as the image, under the rendered DaemonSet's pod spec.
RUNTIME ?= process
demo: setup
	$(PY) -m testbed.sandbox.demo --stack $(STACK) --runtime $(RUNTIME)

# Benchmarks (root, network namespaces): all seven side by side -> docs/benchmarks.md and its plot.
# Upstream's rows need a real upstream binary named by IP_MASQ_AGENT_UPSTREAM (the project never
# builds nor fetches one); without it they are carried, dated, from the committed report.
bench: setup
	$(PY) -m testbed.bench.run

# The reduced set, under a minute, written to rendered/bench-quick/ (the committed report stays).
bench-quick: setup
	$(PY) -m testbed.bench.run --quick

# The component package's schema, committed: tests/components/test_provider.py fails on a difference.
schema: setup
	$(PY) -m pulumi_ip_masq_agent.provider --schema > provider/schema.json

clean:
	rm -rf rendered .pytest_cache .mypy_cache .ruff_cache
