"""The offline render leaves nothing open behind it: run in a fresh interpreter, as `make
render` and the demo run it, so what the interpreter finalises at exit is seen."""

import subprocess
import sys
import textwrap

# A render, then a collection as the interpreter makes at exit; ResourceWarning is shown
# (off by default) so an event loop left unclosed is named whether or not its finaliser fails.
RENDER_THEN_COLLECT = textwrap.dedent(
    """
    import gc
    import pulumi
    from pulumi_ip_masq_agent.testing.offline_render import run_under_mocks

    def program() -> None:
        thing = pulumi.CustomResource("test:index:Thing", "thing", {"size": 1})
        pulumi.export("urn", thing.urn)

    for _ in range(2):
        result = run_under_mocks(program, stack="dev", config={})
        assert [r.name for r in result.resources] == ["thing"], result.resources
    gc.collect()
    print("rendered")
    """
)


def test_a_render_closes_every_event_loop_it_made() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", RENDER_THEN_COLLECT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rendered"
    assert "unclosed event loop" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
