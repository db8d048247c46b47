"""The testbed, never shipped: lab, sandbox kubelet, sandbox, offline harness, benchmarks."""
