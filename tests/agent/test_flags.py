"""Flag parsing in Go's syntax: forms, booleans, values, klog flags and one-line errors."""

import pytest

from ip_masq_agent.contract import DEFAULT_HEALTH_ADDRESS
from ip_masq_agent.flag_values import FlagError
from ip_masq_agent.flags import (
    COMMANDS,
    HelpRequestedError,
    Options,
    parse_flags,
    usage,
)
from ip_masq_agent.rules import PortRange


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param([], Options(), id="defaults"),
        pytest.param(["-enable-ipv6"], Options(enable_ipv6=True), id="single-dash-bool"),
        pytest.param(["--enable-ipv6=true"], Options(enable_ipv6=True), id="bool-equals-true"),
        pytest.param(["--random-fully=false"], Options(random_fully=False), id="bool-false"),
        pytest.param(["-random-fully=0"], Options(random_fully=False), id="bool-zero"),
        pytest.param(["--masq-chain", "MY-CHAIN"], Options(masq_chain="MY-CHAIN"), id="space"),
        pytest.param(["--masq-chain=MY-CHAIN"], Options(masq_chain="MY-CHAIN"), id="equals"),
        pytest.param(
            ["--nomasq-all-reserved-ranges"],
            Options(nomasq_all_reserved_ranges=True),
            id="reserved-ranges",
        ),
        pytest.param(
            ["--to-ports=1024-29999,32768-65535"],
            Options(to_ports=(PortRange(1024, 29999), PortRange(32768, 65535))),
            id="to-ports",
        ),
        pytest.param(["--to-ports", "8080"], Options(to_ports=(PortRange(8080, 8080),)), id="port"),
        pytest.param(
            ["-v", "4", "--logtostderr", "--alsologtostderr=false", "--log_dir=/x"],
            Options(verbosity=4),
            id="klog",
        ),
        pytest.param(["--v=2"], Options(verbosity=2), id="klog-v-equals"),
        pytest.param(["--v=+3"], Options(verbosity=3), id="klog-v-sign"),
        pytest.param(
            ["--to-ports=" + ",".join(str(p) for p in range(1024, 1088))],
            Options(to_ports=tuple(PortRange(p, p) for p in range(1024, 1088))),
            id="to-ports-64-ranges",
        ),
        pytest.param(["--config", "/c", "--once"], Options(config_path="/c", once=True), id="new"),
        pytest.param(["--backend=iptables-legacy"], Options(backend="iptables-legacy"), id="be"),
        pytest.param(["--metrics-address="], Options(metrics_address=""), id="metrics-off"),
        pytest.param(
            ["--metrics-address", "[::1]:9999"], Options(metrics_address="[::1]:9999"), id="metrics"
        ),
        pytest.param(
            ["render", "--family", "ipv4"], Options(command="render", family="ipv4"), id="render"
        ),
        pytest.param(
            ["--enable-ipv6", "render", "-family=ipv6"],
            Options(command="render", family="ipv6", enable_ipv6=True),
            id="flags-before-command",
        ),
        pytest.param(["cleanup"], Options(command="cleanup"), id="cleanup"),
        pytest.param(["--health-timeout=1m30s"], Options(health_timeout=90.0), id="health-timeout"),
        pytest.param(["--health-timeout", "500ms"], Options(health_timeout=0.5), id="timeout-ms"),
        pytest.param(["--", "cleanup"], Options(command="cleanup"), id="double-dash"),
    ],
)
def test_accepted(argv: list[str], expected: Options) -> None:
    assert parse_flags(argv) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--bogus"], "flag provided but not defined: -bogus", id="unknown"),
        pytest.param(["--health-timeout=0s"], "-health-timeout: want a positive", id="ht-0"),
        pytest.param(["--health-timeout=-5s"], "-health-timeout: want a positive", id="ht-neg"),
        pytest.param(["--health-timeout=30"], "-health-timeout: want a positive", id="ht-unit"),
        pytest.param(["--masq-chain"], "flag needs an argument: -masq-chain", id="missing-value"),
        pytest.param(["--once=maybe"], "invalid boolean value 'maybe' for flag -once", id="bool"),
        pytest.param(["--to-ports=0-10"], "'0-10' is not within 1-65535", id="port-zero"),
        pytest.param(["--to-ports=20-10"], "'20-10' is not within 1-65535", id="reversed"),
        pytest.param(["--to-ports=a-b"], "'a-b' is not a port range", id="not-ports"),
        pytest.param(["--to-ports=80- 90"], "'80- 90' is not a port range", id="port-space"),
        pytest.param(["--to-ports=\uff18\uff10"], "is not a port range", id="port-wide-digits"),
        pytest.param(["--to-ports=80,"], "'' is not a port range", id="port-empty-part"),
        pytest.param(["--masq-chain=A B"], "flag -masq-chain", id="chain-space"),
        pytest.param(["--masq-chain=X\n-A"], "flag -masq-chain", id="chain-newline"),
        pytest.param(["--masq-chain=X\n"], "flag -masq-chain", id="chain-trailing-newline"),
        pytest.param(["--masq-chain=MASQ-\u00c4"], "flag -masq-chain", id="chain-non-ascii"),
        pytest.param(["--masq-chain=C\u0663"], "flag -masq-chain", id="chain-arabic-digit"),
        pytest.param(["--masq-chain=-X"], "want a letter", id="chain-option-like"),
        pytest.param(["--masq-chain=1CHAIN"], "want a letter", id="chain-digit-first"),
        pytest.param(["--masq-chain=POSTROUTING"], "built-in chain", id="chain-builtin"),
        pytest.param(["--masq-chain=masquerade"], "built-in chain", id="chain-target"),
        pytest.param(["-v=x"], "flag -v", id="verbosity"),
        pytest.param(["-v=\u0662"], "flag -v", id="verbosity-arabic-digit"),
        pytest.param(["-v= 2"], "flag -v", id="verbosity-space"),
        pytest.param(["-v=1_0"], "flag -v", id="verbosity-underscore"),
        pytest.param(["-v=2147483648"], "flag -v", id="verbosity-over-int32"),
        pytest.param(
            ["--to-ports=" + ",".join(str(p) for p in range(1024, 21025))],
            "20001 ranges, at most 64",
            id="to-ports-too-many",
        ),
        pytest.param(["frobnicate"], "unknown command 'frobnicate'", id="command"),
        pytest.param(["render", "extra"], "unexpected arguments: extra", id="extra"),
        pytest.param(["--family=ipv4"], "only for the render command", id="family-run"),
        pytest.param(["render", "--family=ipv6"], "needs -enable-ipv6", id="family-v6"),
        pytest.param(["render", "--family=ipx"], "want ipv4 or ipv6", id="family-bad"),
        pytest.param(["---x"], "bad flag syntax: ---x", id="syntax"),
    ],
)
def test_rejected_with_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError) as caught:
        parse_flags(argv)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert len(str(caught.value)) < 400  # a huge value is quoted briefly


def test_health_port_avoids_kubelet_and_kube_proxy() -> None:
    port = int(DEFAULT_HEALTH_ADDRESS.rsplit(":", 1)[1])
    assert port not in {10248, 10249, 10250, 10255, 10256, 10257, 10259}


@pytest.mark.parametrize(
    "argv",
    [["-h"], ["--help"], ["-help"], ["render", "-h"], ["--v=2", "--help", "--bogus-after"]],
    ids=["h", "double-dash-help", "help", "after-command", "before-anything-unknown"],
)
def test_help_is_asked_for_in_any_position(argv: list[str]) -> None:
    with pytest.raises(HelpRequestedError):
        parse_flags(argv)


def test_help_after_double_dash_is_an_argument() -> None:
    with pytest.raises(FlagError, match="unknown command '-h'"):
        parse_flags(["--", "-h"])


def test_usage_has_one_line_per_command_and_flag_with_defaults() -> None:
    text = usage(["auto", "nftables"])
    lines = text.splitlines()
    for command in COMMANDS:
        assert sum(line.startswith(f"  {command} ") for line in lines) == 1
    for flag in ("config", "masq-chain", "backend", "health-timeout", "once", "stay", "v"):
        assert sum(line.startswith(f"  -{flag} ") for line in lines) == 1, flag
    assert "(default '/etc/config/ip-masq-agent')" in text
    assert "how rules are written: auto, nftables (default 'auto')" in text
    assert "-health-timeout value" in text and "(default 30s)" in text
    assert "(default 0)" in text  # -v
    assert lines[-1].startswith("accepted for klog compatibility and ignored: -logtostderr")
