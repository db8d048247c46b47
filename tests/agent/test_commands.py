"""The subprocess runner turns every way a tool can fail into a result, never an exception."""

from pathlib import Path

from ip_masq_agent.commands import SubprocessRunner


def test_output_status_and_stdin() -> None:
    result = SubprocessRunner()(["sh", "-c", "cat; echo oops >&2; exit 3"], stdin="in\n")
    assert (result.returncode, result.stdout, result.stderr) == (3, "in\n", "oops\n")
    assert result.error_line == "oops"


def test_prefix_is_prepended() -> None:
    result = SubprocessRunner(["env", "X=1"])(["sh", "-c", "echo $X"])
    assert result.stdout == "1\n"
    assert result.args[:2] == ("env", "X=1")


def test_missing_unrunnable_and_slow_tools(tmp_path: Path) -> None:
    missing = SubprocessRunner()(["/nonexistent/iptables-restore"])
    assert missing.returncode == 127
    assert missing.error_line == "/nonexistent/iptables-restore: command not found"
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\n")
    assert SubprocessRunner()([str(script)]).returncode == 126  # not executable
    slow = SubprocessRunner(timeout=0.2)(["sleep", "5"])
    assert slow.returncode == 124 and "timed out" in slow.error_line


def test_output_that_is_not_utf8_is_a_result_not_a_crash() -> None:
    # e.g. a foreign iptables rule with a Latin-1 comment, listed by iptables-save.
    result = SubprocessRunner()(["printf", "caf\\351\\n"])
    assert result.returncode == 0
    assert result.stdout == "caf\udce9\n"
    assert result.stdout.encode("utf-8", "surrogateescape") == b"caf\xe9\n"
