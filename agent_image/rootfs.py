"""The image's root filesystem, assembled from Debian packages installed in the build stage.

Run by the Dockerfile's build stage on Debian's python3: `python3 rootfs.py ROOTFS AGENT PKG...`.
Copies the files of the named packages and of every package owning a shared library they link
(ldd), minus what the agent never runs: docs, man pages, locales, gconv, the parts of the
standard library behind tests, GUIs, databases and terminals. Writes each shipped package's
dpkg record under var/lib/dpkg/status.d/ (scanners read it; the image has no dpkg), installs
the agent package and byte-compiles it with the standard library, then runs the result chrooted
to show that the interpreter, iptables and nft start. Modes and owners are normalised; the
build sets every timestamp (podman build --timestamp), so two builds give the same tree.
"""

import compileall
import os
import py_compile
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

PYTHON_LIB = "/usr/lib/python3.11"
# Directories nothing the agent runs reads.
PRUNED_DIRS = (
    "/usr/share/doc",
    "/usr/share/doc-base",
    "/usr/share/man",
    "/usr/share/info",
    "/usr/share/locale",
    "/usr/share/lintian",
    "/usr/share/bug",
    "/usr/share/bash-completion",
    "/usr/share/python3",
    "/usr/share/pixmaps",
    "/usr/share/applications",
    "/etc/init.d",
    "/etc/default",
    "/etc/systemd",
    "/usr/lib/systemd",
    "/lib/systemd",
    *(
        f"{PYTHON_LIB}/{name}"
        for name in (
            "test",
            "idlelib",
            "tkinter",
            "turtledemo",
            "lib2to3",
            "ensurepip",
            "pydoc_data",
            "distutils",
            "venv",
            "unittest",
            "sqlite3",
            "dbm",
            "curses",
            "config-3.11-x86_64-linux-gnu",
            "config-3.11-aarch64-linux-gnu",
        )
    ),
)
# Extension modules (lib-dynload) for what the agent never does; dropping them drops their
# libraries (sqlite, ncurses, readline, Berkeley DB, NIS/Kerberos, lzma, bzip2, uuid) too.
PRUNED_EXTENSIONS = re.compile(
    r"^(_sqlite3|_curses|_curses_panel|readline|_dbm|_gdbm|nis|_lzma|_bz2|_uuid|_tkinter|_crypt"
    r"|_ctypes_test|_test\w*|xx\w*|_xx\w*|audioop|ossaudiodev)\.cpython-311-[\w-]+\.so$"
)
PRUNED_FILES = re.compile(
    r"^/usr/bin/(py3compile|py3clean|py3versions|pydoc3.*|pygettext3.*|python3.*-config)$"
    r"|^/usr/sbin/(arptables|ebtables|ip6?tables-apply|nfnl_osf|xtables-monitor)"
    r"|/gconv/|/__pycache__/"
)
# Not linked by anything, but loaded at run time: glibc dlopens libgcc_s for thread exit.
DLOPENED_PACKAGES = ("libgcc-s1",)
# Merged /usr: the top-level names are symlinks, so /lib64/ld-linux-x86-64.so.2 resolves.
MERGED_USR = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
ETC_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/usr/sbin/nologin\n",
    "etc/group": "root:x:0:\n",
}
AGENT_TARGET = "usr/lib/python3/dist-packages/ip_masq_agent"
# `ip-masq-agent cleanup` on the image's PATH, and /ip-masq-agent where upstream's image keeps
# its binary (for manifests that override `command`): a Python script, as there is no shell.
ENTRY_SCRIPT = "usr/local/bin/ip-masq-agent"
ENTRY_SCRIPT_TEXT = """#!/usr/bin/python3 -s
import runpy

runpy.run_module("ip_masq_agent", run_name="__main__", alter_sys=True)
"""


def pruned(path: str) -> bool:
    if any(path == d or path.startswith(d + "/") for d in PRUNED_DIRS):
        return True
    if "/lib-dynload/" in path and PRUNED_EXTENSIONS.match(path.rsplit("/", 1)[1]):
        return True
    return PRUNED_FILES.search(path) is not None


def listed_files(package: str) -> list[str]:
    out = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line.startswith("/")]


def installed_packages() -> list[str]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\n"], capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def owner_index() -> dict[str, str]:
    """Real path of every file dpkg knows -> its package (merged /usr makes names differ)."""
    owners: dict[str, str] = {}
    for package in installed_packages():
        for path in listed_files(package):
            # The real file, not a link to it (libc-bin's /usr/bin/ld.so is libc6's loader).
            if os.path.isfile(path) and not os.path.islink(path):
                owners.setdefault(os.path.realpath(path), package)
    return owners


def is_elf(path: str) -> bool:
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    with open(path, "rb") as handle:
        return handle.read(4) == b"\x7fELF"


def linked_libraries(path: str) -> set[str]:
    done = subprocess.run(["ldd", path], capture_output=True, text=True, check=False)
    found = set()
    for line in done.stdout.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) > parts.index("=>") + 1:
            target = parts[parts.index("=>") + 1]
            if target.startswith("/"):
                found.add(os.path.realpath(target))
        elif parts and parts[0].startswith("/"):
            found.add(os.path.realpath(parts[0]))  # the dynamic loader
    return found


def shipped_packages(roots: list[str]) -> list[str]:
    """The roots, the always-loaded ones, and every package owning a library they link."""
    owners = owner_index()
    packages = set(roots) | set(DLOPENED_PACKAGES)
    seen: set[str] = set()
    while pending := packages - seen:
        for package in sorted(pending):
            seen.add(package)
            for path in listed_files(package):
                if not pruned(path) and is_elf(path):
                    packages.update(owners[lib] for lib in linked_libraries(path) if lib in owners)
    return sorted(packages)


def copy_entry(path: str, rootfs: Path) -> None:
    """One file or symlink, at its real directory (merged /usr), mode normalised."""
    source = Path(os.path.realpath(os.path.dirname(path))) / os.path.basename(path)
    target = rootfs / str(source).lstrip("/")
    if target.exists() or target.is_symlink():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
        return
    if source.is_dir():
        target.mkdir(mode=0o755, exist_ok=True)
        return
    shutil.copyfile(source, target)
    executable = source.stat().st_mode & stat.S_IXUSR
    os.chmod(target, 0o755 if executable else 0o644)


def alternatives(rootfs: Path) -> None:
    """update-alternatives' links (iptables -> iptables-nft) for the programs shipped."""
    for link_dir in ("/usr/bin", "/usr/sbin"):
        for entry in sorted(os.listdir(link_dir)):
            link = os.path.join(link_dir, entry)
            if not os.path.islink(link) or not os.readlink(link).startswith("/etc/alternatives/"):
                continue
            chosen = os.path.realpath(link)
            if (rootfs / chosen.lstrip("/")).exists():
                copy_entry(os.readlink(link), rootfs)
                copy_entry(link, rootfs)


def status_records(packages: list[str], rootfs: Path) -> None:
    records = rootfs / "var/lib/dpkg/status.d"
    records.mkdir(parents=True)
    for package in packages:
        out = subprocess.run(
            ["dpkg-query", "-s", package], capture_output=True, text=True, check=True
        )
        (records / package).write_text(out.stdout)


def install_agent(agent: Path, rootfs: Path) -> None:
    target = rootfs / AGENT_TARGET
    shutil.copytree(agent, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in target.rglob("*"):
        if path.is_file():
            os.chmod(path, 0o644)
    script = rootfs / ENTRY_SCRIPT
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(ENTRY_SCRIPT_TEXT)
    os.chmod(script, 0o755)
    os.symlink("/" + ENTRY_SCRIPT, rootfs / "ip-masq-agent")


def normalise_dirs(rootfs: Path) -> None:
    for directory, _, _ in os.walk(rootfs):
        os.chmod(directory, 0o755)
    os.chmod(rootfs / "tmp", 0o1777)


def byte_compile(rootfs: Path) -> None:
    """Hash-checked .pyc (no source timestamps in them), named for where they run."""
    for tree in (PYTHON_LIB, "/usr/lib/python3/dist-packages"):
        ok = compileall.compile_dir(
            rootfs / tree.lstrip("/"),
            quiet=1,
            stripdir=str(rootfs),
            prependdir="/",
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            workers=1,
        )
        if not ok:
            raise SystemExit(f"rootfs: byte-compiling {tree} failed")


def smoke_test(rootfs: Path) -> None:
    """The image's programs start with only the image's files (chrooted: no host fallback).

    nft and iptables-nft open a netfilter netlink socket even for --version, which qemu-user
    (a foreign-architecture build) cannot emulate: for them the loader resolves every library.
    """
    (loader,) = rootfs.glob("usr/lib/*-linux-gnu/ld-linux-*.so.*")
    inside = "/" + str(loader.relative_to(rootfs))
    runs = (
        ["/usr/bin/python3", "-s", "-c", "import ip_masq_agent.cli, ssl, ctypes, decimal, yaml"],
        ["/usr/sbin/iptables-legacy", "--version"],
        ["/ip-masq-agent", "render", "--config=/none", "--backend=nftables"],
    )
    linked = ("/usr/sbin/xtables-nft-multi", "/usr/sbin/xtables-legacy-multi", "/usr/sbin/nft")
    for argv in (*runs, *([inside, "--list", program] for program in linked)):
        done = subprocess.run(
            ["chroot", str(rootfs), *argv], capture_output=True, text=True, check=False
        )
        if done.returncode != 0 or "not found" in done.stdout:
            raise SystemExit(f"rootfs: {' '.join(argv)} failed: {done.stderr.strip()}{done.stdout}")


def main(argv: list[str]) -> int:
    rootfs, agent, roots = Path(argv[0]), Path(argv[1]), argv[2:]
    rootfs.mkdir()
    packages = shipped_packages(roots)
    for package in packages:
        for path in listed_files(package):
            if not pruned(path) and not os.path.isdir(path):
                copy_entry(path, rootfs)
    alternatives(rootfs)
    for name, target in MERGED_USR.items():
        if (rootfs / target).exists():
            os.symlink(target, rootfs / name)
    for name, text in ETC_FILES.items():
        (rootfs / name).parent.mkdir(parents=True, exist_ok=True)
        (rootfs / name).write_text(text)
    for empty in ("tmp", "run", "proc", "sys", "dev"):
        (rootfs / empty).mkdir(exist_ok=True)
    status_records(packages, rootfs)
    install_agent(agent, rootfs)
    normalise_dirs(rootfs)
    byte_compile(rootfs)
    smoke_test(rootfs)
    print(f"rootfs: {len(packages)} packages: {' '.join(packages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
