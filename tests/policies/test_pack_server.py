"""The pack as the Pulumi CLI runs it: `policies/__main__.py` by path, spoken to over gRPC."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tests.policies.objects import CONFIGMAP, agent_config, configmap

REPO = Path(__file__).resolve().parents[2]
MANDATORY = 1  # analyzer_pb2.EnforcementLevel.MANDATORY


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    # As the CLI's Python host does: `python -m pulumi.policy <engine> <pack dir>`, from
    # elsewhere, so the pack cannot lean on the current directory being the repository.
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(REPO / "policies")],
        cwd=tmp_path_factory.mktemp("elsewhere"),
        # No PYTHONPATH either: the pack imports its policies from the installed package.
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port.isdigit():
            process.kill()
            pytest.fail(f"pack did not start: {port!r} {process.communicate(timeout=10)[1]}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=10)


def test_pack_declares_every_policy_with_its_enforcement(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    assert info.name == "ip-masq-agent"
    levels = {p.name: analyzer_pb2.EnforcementLevel.Name(p.enforcementLevel) for p in info.policies}
    assert levels == {
        "non-masquerade-covers-pod-ranges": "MANDATORY",
        "force-masquerade-needs-our-agent": "MANDATORY",
        "ip-masq-plan-fits-backend": "MANDATORY",
        "platform-matches-cluster": "MANDATORY",
        "autopilot-nothing-in-kube-system": "MANDATORY",
        "egress-nat-policy-covers-pod-ranges": "MANDATORY",
        "ip-masq-config-valid": "MANDATORY",
        "ip-masq-agent-least-privilege": "MANDATORY",
        "agent-image-pinned": "ADVISORY",
        "masq-link-local": "ADVISORY",
    }
    schema = {p.name: dict(p.configSchema.properties) for p in info.policies}
    assert set(schema["ip-masq-config-valid"]) == {"minResyncInterval", "maxResyncInterval"}


def analyze(analyzer: analyzer_pb2_grpc.AnalyzerStub, config: str) -> list[str]:
    properties = struct_pb2.Struct()
    properties.update(configmap(config))
    request = analyzer_pb2.AnalyzeRequest(
        type=CONFIGMAP,
        properties=properties,
        urn=f"urn:pulumi:dev::ip-masq-agent::{CONFIGMAP}::cm",
        name="cm",
    )
    response = analyzer.Analyze(request, timeout=10)
    return [
        f"{d.policyName}:{analyzer_pb2.EnforcementLevel.Name(d.enforcementLevel)}:{d.message}"
        for d in response.diagnostics
    ]


def test_engine_request_reaches_the_validators(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    assert analyze(analyzer, agent_config()) == []
    [diagnostic] = analyze(analyzer, agent_config(nonMasqueradeCIDRs=["0.0.0.0/0"]))
    assert diagnostic.startswith("ip-masq-config-valid:MANDATORY:")
    assert "0.0.0.0/0" in diagnostic


def test_unknown_value_becomes_an_advisory_through_the_engine(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE  # noqa: PLC0415

    diagnostics = analyze(analyzer, UNKNOWN_STRING_VALUE)
    assert diagnostics, "an unknown config must not pass silently"
    for diagnostic in diagnostics:
        assert ":ADVISORY:" in diagnostic
        assert "cannot check until deployed" in diagnostic
