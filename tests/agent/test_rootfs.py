"""agent_image/rootfs.py's choice of files: what the image keeps and what it leaves out."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "agent_image" / "rootfs.py"


def load_rootfs() -> ModuleType:
    # A script the build stage runs, not a package: loaded from its path.
    spec = importlib.util.spec_from_file_location("rootfs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rootfs = load_rootfs()
DYNLOAD = "/usr/lib/python3.11/lib-dynload"


@pytest.mark.parametrize(
    ("path", "pruned"),
    [
        pytest.param("/usr/share/doc/iptables/copyright", True, id="docs"),
        pytest.param("/usr/share/man/man8/nft.8.gz", True, id="man"),
        pytest.param("/usr/share/locale/de/LC_MESSAGES/x.mo", True, id="locale"),
        pytest.param("/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so", True, id="gconv"),
        pytest.param("/usr/lib/python3.11/test/test_os.py", True, id="stdlib-tests"),
        pytest.param("/usr/lib/python3.11/sqlite3/__init__.py", True, id="sqlite-package"),
        pytest.param(f"{DYNLOAD}/_sqlite3.cpython-311-x86_64-linux-gnu.so", True, id="sqlite"),
        pytest.param(f"{DYNLOAD}/readline.cpython-311-aarch64-linux-gnu.so", True, id="readline"),
        pytest.param(f"{DYNLOAD}/_ssl.cpython-311-x86_64-linux-gnu.so", False, id="ssl-kept"),
        pytest.param(f"{DYNLOAD}/_ctypes.cpython-311-x86_64-linux-gnu.so", False, id="ctypes"),
        pytest.param("/usr/lib/python3.11/http/server.py", False, id="http-server"),
        pytest.param("/usr/lib/python3.11/__pycache__/os.cpython-311.pyc", True, id="old-pyc"),
        pytest.param("/usr/sbin/xtables-nft-multi", False, id="iptables-nft"),
        pytest.param("/usr/sbin/nft", False, id="nft"),
        pytest.param("/usr/sbin/arptables-nft", True, id="arptables"),
        pytest.param("/usr/sbin/iptables-apply", True, id="shell-script"),
        pytest.param("/usr/bin/py3compile", True, id="debian-helper"),
        pytest.param("/usr/bin/python3.11", False, id="interpreter"),
    ],
)
def test_pruned(path: str, pruned: bool) -> None:
    assert rootfs.pruned(path) is pruned


def test_the_entry_script_needs_no_shell() -> None:
    first = rootfs.ENTRY_SCRIPT_TEXT.splitlines()[0]
    assert first == "#!/usr/bin/python3 -s"
    assert 'run_module("ip_masq_agent", run_name="__main__"' in rootfs.ENTRY_SCRIPT_TEXT
