"""The command line end to end without a kernel: render, exit codes and error lines."""

import subprocess
import sys
from pathlib import Path

import pytest

from ip_masq_agent.cli import main
from ip_masq_agent.iptables_payload import NON_MASQ_COMMENT


def test_render_prints_the_payload_of_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    config.write_text("nonMasqueradeCIDRs: [10.8.0.0/14]\n")
    assert main(["render", f"--config={config}", "--random-fully=false", "--backend=iptables"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2:4] == [
        f'-A IP-MASQ-AGENT -m comment --comment "{NON_MASQ_COMMENT}" -d 169.254.0.0/16 -j RETURN',
        f'-A IP-MASQ-AGENT -m comment --comment "{NON_MASQ_COMMENT}" -d 10.8.0.0/14 -j RETURN',
    ]
    assert out.endswith("-j MASQUERADE\nCOMMIT\n")


def test_render_both_families_names_each_tool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --random-fully=false: no `iptables --version` probe runs on the host either.
    argv = ["render", f"--config={tmp_path / 'absent'}", "--enable-ipv6", "--random-fully=false"]
    assert main([*argv, "--backend=iptables"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# ipv4: iptables-restore -w --noflush\n*nat\n")
    assert "# ipv6: ip6tables-restore -w --noflush\n*nat\n" in out
    assert "-d fe80::/10 -j RETURN" in out


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        pytest.param(
            ["--bogus"], 2, "ip-masq-agent: flag provided but not defined: -bogus\n", id="flag"
        ),
        pytest.param(
            ["--backend=pf"],
            2,
            "ip-masq-agent: invalid value 'pf' for flag -backend:",
            id="backend",
        ),
        pytest.param(
            ["--health-address=nope"], 2, "ip-masq-agent: invalid value 'nope'", id="address"
        ),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(
    argv: list[str], status: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # An explicit backend: `auto` would read the host's own rules, which tests never touch.
    assert main([*argv, "--backend=iptables"] if "--backend=pf" not in argv else argv) == status
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_render_of_an_invalid_config_exits_1_naming_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    config.write_text('nonMasqueradeCIDRs: ["10.0.0.0/8 -j ACCEPT"]\n')
    assert main(["render", f"--config={config}", "--backend=iptables"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"ip-masq-agent: {config}: nonMasqueradeCIDRs[0]: '10.0.0.0/8 -j ACCEPT' is not a CIDR"
        " (want e.g. 10.0.0.0/8)\n"
    )


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "ip-masq-agent"
    done = subprocess.run([str(script), "--nope"], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr) == (
        2,
        "ip-masq-agent: flag provided but not defined: -nope\n",
    )
    done = subprocess.run(
        # An explicit backend: `auto` would read the host's rules, which tests never touch.
        [
            sys.executable,
            "-m",
            "ip_masq_agent",
            "render",
            "--config=/nonexistent",
            "--backend=iptables",
            "--random-fully=false",  # nor an `iptables --version` probe
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith("*nat\n")


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_prints_usage_and_exits_0(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([flag]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.startswith("usage: ip-masq-agent [command] [flags]\n")
    assert "  -backend value" in captured.out and "iptables-nft" in captured.out


# Without prometheus_client (a plain pip install): render, cleanup and --help need none of it;
# run and cleanup --stay say which extra to install. A child process: the import is global.
WITHOUT_PROMETHEUS = """
import sys
sys.modules["prometheus_client"] = None  # an import of it now fails as if not installed
from ip_masq_agent.cli import main
status = main(sys.argv[1:])
assert "ip_masq_agent.metrics" not in sys.modules or sys.argv[1] in ("run", "cleanup")
sys.exit(status)
"""


@pytest.mark.parametrize(
    ("argv", "status", "stream", "start"),
    [
        pytest.param(["--help"], 0, "out", "usage: ip-masq-agent", id="help"),
        pytest.param(
            ["render", "--config=/nonexistent", "--backend=iptables", "--random-fully=false"],
            0,
            "out",
            "*nat\n",
            id="render",
        ),
        pytest.param(
            ["run", "--once", "--backend=iptables"],
            2,
            "err",
            'ip-masq-agent: run needs prometheus-client: pip install "pulumi-ip-masq-agent[agent]"',
            id="run",
        ),
        pytest.param(
            ["cleanup", "--stay", "--backend=iptables"],
            2,
            "err",
            "ip-masq-agent: cleanup --stay needs prometheus-client:",
            id="cleanup-stay",
        ),
    ],
)
def test_without_prometheus_client(argv: list[str], status: int, stream: str, start: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PROMETHEUS, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == status, done.stderr
    text = done.stdout if stream == "out" else done.stderr
    assert text.startswith(start)
    if stream == "err":
        assert text.count("\n") == 1
