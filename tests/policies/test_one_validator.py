"""One validator: the agent, the component and the policy give every CIDR list the same verdict.

The agent's parser (`parse_config`), the component's derivation (`derive_non_masquerade_cidrs`)
and the `ip-masq-config-valid` policy all read CIDRs with `Prefix.parse` and judge a list
that exempts every destination with `config_bounds.exempting_everything`; fed the same lists,
they must accept and refuse alike, and refuse for the same reason. The one deliberate split:
a list exempting every destination of a family is upstream's to accept, so the agent applies
it with a warning that says what the component's and the policy's refusal says.
"""

import json

import pytest

from ip_masq_agent.config import ConfigError, parse_config
from pulumi_ip_masq_agent.cidrs import CidrError, derive_non_masquerade_cidrs
from pulumi_ip_masq_agent.policy.config_valid import validate_ip_masq_config
from pulumi_ip_masq_agent.ranges import stack_range
from tests.policies.objects import CONFIGMAP, configmap
from tests.policies.policy_args import run_resource

# (CIDR list, None when accepted, else a phrase every refusal of it says).
EXEMPTING_EVERYTHING = {"ipv4-default-route", "ipv6-default-route", "halves", "ipv6-halves"}
CASES = [
    pytest.param(["10.0.0.0/8", "fd00::/8"], None, id="plain"),
    pytest.param(["10.0.0.0/08"], None, id="leading-zero-length"),
    pytest.param(["0.0.0.0/1"], None, id="half-of-everything"),
    pytest.param(["10.0.0.0/8", "10.0.0.0/8"], None, id="duplicate"),
    pytest.param(["0.0.0.0/0"], "0.0.0.0/0", id="ipv4-default-route"),
    pytest.param(["10.0.0.0/8", "::/0"], "::/0", id="ipv6-default-route"),
    pytest.param(["0.0.0.0/1", "128.0.0.0/1"], "merge into 0.0.0.0/0", id="halves"),
    pytest.param(["::/1", "8000::/1", "fd00::/8"], "merge into ::/0", id="ipv6-halves"),
    pytest.param(["10.0.0.1/8"], "has host bits set", id="host-bits"),
    pytest.param(["10.1/16"], "is not a CIDR", id="shorthand"),
    pytest.param(["010.0.0.0/8"], "is not a CIDR", id="leading-zero-octet"),
    pytest.param(["10.0.0.0/33"], "is not a CIDR", id="too-long"),
    pytest.param(["10.0.0.0/0008"], "is not a CIDR", id="four-digit-length"),
    pytest.param(["10.0.0.0/8 -j ACCEPT"], "is not a CIDR", id="injection"),
    pytest.param(["fd00::1%eth0/128"], "is not a CIDR", id="zone"),
]


def agent_verdict(cidrs: list[str]) -> tuple[str | None, str]:
    """The agent's refusal (None: accepted), and its warnings."""
    document = json.dumps({"nonMasqueradeCIDRs": cidrs})
    try:
        config = parse_config(document, enable_ipv6=True)
    except ConfigError as err:
        return str(err), ""
    return None, "; ".join(config.warnings)


def component_verdict(cidrs: list[str]) -> str | None:
    ranges = [stack_range(f"key{index}", cidr) for index, cidr in enumerate(cidrs)]
    try:
        derive_non_masquerade_cidrs(ranges, ipv6_enabled=True, cidr_limit=64)
    except CidrError as err:
        return str(err)
    return None


def policy_verdict(cidrs: list[str]) -> str | None:
    props = configmap(json.dumps({"nonMasqueradeCIDRs": cidrs}))
    violations = run_resource(validate_ip_masq_config, CONFIGMAP, props, name="cm", config={})
    return "; ".join(violations) or None


@pytest.mark.parametrize(("cidrs", "refusal"), CASES)
def test_agent_component_and_policy_agree(
    request: pytest.FixtureRequest, cidrs: list[str], refusal: str | None
) -> None:
    agent_refusal, agent_warnings = agent_verdict(cidrs)
    verdicts = {
        "component": component_verdict(cidrs),
        "policy": policy_verdict(cidrs),
    }
    if request.node.callspec.id in EXEMPTING_EVERYTHING:
        assert refusal is not None
        assert agent_refusal is None and refusal in agent_warnings, agent_warnings
    else:
        verdicts["agent"] = agent_refusal
    if refusal is None:
        assert set(verdicts.values()) == {None}, verdicts
    else:
        for who, verdict in verdicts.items():
            assert verdict is not None and refusal in verdict, (who, verdict)


@pytest.mark.parametrize("cidrs", [["0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"], ["::/0"]])
def test_refusing_to_exempt_everything_is_the_agents_own_verdict(cidrs: list[str]) -> None:
    """The component's refusal is the agent's parser asked to refuse, word for word."""
    document = json.dumps({"nonMasqueradeCIDRs": cidrs})
    _, warning = agent_verdict(cidrs)
    with pytest.raises(ConfigError) as refused:
        parse_config(document, enable_ipv6=True, refuse_exempting_everything=True)
    assert str(refused.value) == warning
