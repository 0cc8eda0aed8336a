"""Check what `make wheel` put in dist/: one abi3 wheel any Linux with glibc >= 2.17 can install, and
one sdist that holds everything needed to build it and nothing else.

    check_dist.py DIST_DIR

The wheel: its file name must claim cp310-abi3 and only manylinux tags no newer than glibc 2.17 for
this machine's architecture, and `auditwheel show` (which reads the symbol versions the extension
needs from libc) must find it consistent with a tag at least that old. The sdist: it must hold both
crates, Cargo.lock, pyproject.toml, README.md, the Python sources with py.typed and _core.pyi, and no
build output, caches, compiled code or large files.
"""

import platform
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import NoReturn

MAX_GLIBC = (2, 17)  # manylinux2014: CentOS 7, Ubuntu >= 14.04, Debian >= 8, RHEL >= 7
LEGACY_TAGS = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
SDIST_MAX_BYTES = 2_000_000
SDIST_REQUIRED = [
    "PKG-INFO",
    "pyproject.toml",
    "README.md",
    "Cargo.toml",
    "Cargo.lock",
    "rust/core/Cargo.toml",
    "rust/core/src/lib.rs",
    "rust/python/Cargo.toml",
    "rust/python/src/lib.rs",
    "python/stochamort/__init__.py",
    "python/stochamort/py.typed",
    "python/stochamort/_core.pyi",
]
# Build output, caches, environments, compiled code: none of it belongs in a source distribution.
SDIST_JUNK = re.compile(
    r"(^|/)(target|dist|build|\.venv|venv|\.git|__pycache__|\.[a-z_]*cache|\.hypothesis|[^/]*\.egg-info)/"
    r"|\.(so|pyd|dll|dylib|pyc|whl|tar\.gz|zip|pt|npz|npy)$"
)
SDIST_MAX_FILE_BYTES = 200_000


def fail(message: str) -> NoReturn:
    sys.exit(f"check_dist: {message}")


def glibc_of(tag: str, arch: str) -> tuple[int, int] | None:
    """(major, minor) of a manylinux platform tag for `arch`, or None for any other tag."""
    if m := re.fullmatch(rf"manylinux_(\d+)_(\d+)_{arch}", tag):
        return int(m[1]), int(m[2])
    if m := re.fullmatch(rf"(manylinux\d+)_{arch}", tag):
        return LEGACY_TAGS.get(m[1])
    return None


def check_wheel(wheel: Path, arch: str) -> str:
    # name-version-python-abi-platform(s).whl; the platform part may join several tags with dots.
    parts = wheel.name.removesuffix(".whl").split("-")
    if len(parts) != 5:
        fail(f"unexpected wheel name {wheel.name}")
    python_tag, abi_tag, platforms = parts[2], parts[3], parts[4].split(".")
    if (python_tag, abi_tag) != ("cp310", "abi3"):
        fail(f"{wheel.name}: expected a cp310-abi3 wheel, got {python_tag}-{abi_tag}")
    claimed = {tag: glibc_of(tag, arch) for tag in platforms}
    for tag, glibc in claimed.items():
        if glibc is None or glibc > MAX_GLIBC:
            fail(f"{wheel.name}: platform tag {tag} is not manylinux for glibc <= 2.17 on {arch}")

    show = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True, text=True
    )
    report = " ".join((show.stdout + show.stderr).split())  # auditwheel wraps its lines
    found = re.search(r'is consistent with the following platform tag: "([^"]+)"', report)
    if show.returncode != 0 or found is None:
        fail(f"`auditwheel show` did not name a platform tag for {wheel.name}:\n{show.stdout}{show.stderr}")
    audited = glibc_of(found[1], arch)
    if audited is None or any(audited > glibc for glibc in claimed.values() if glibc):
        fail(f"{wheel.name} claims {', '.join(platforms)} but auditwheel finds it needs {found[1]}")
    return found[1]


def check_sdist(sdist: Path) -> tuple[int, int]:
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
    root = sdist.name.removesuffix(".tar.gz")
    names = {}
    for member in members:
        prefix, _, name = member.name.partition("/")
        if prefix != root:
            fail(f"{sdist.name}: {member.name} is outside {root}/")
        names[name] = member.size
    if missing := [name for name in SDIST_REQUIRED if name not in names]:
        fail(f"{sdist.name} lacks {', '.join(missing)}")
    if junk := sorted(name for name, size in names.items() if SDIST_JUNK.search(name) or size > SDIST_MAX_FILE_BYTES):
        fail(f"{sdist.name} holds build output, caches or large files (exclude them in [tool.maturin]): {junk}")
    if sdist.stat().st_size > SDIST_MAX_BYTES:
        fail(f"{sdist.name} is {sdist.stat().st_size} bytes, more than {SDIST_MAX_BYTES}")
    return len(names), sum(names.values())


def main() -> None:
    dist = Path(sys.argv[1])
    wheels, sdists = sorted(dist.glob("stochamort-*.whl")), sorted(dist.glob("stochamort-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        fail(f"expected one wheel and one sdist in {dist}/, found {[p.name for p in wheels + sdists]}")
    arch = platform.machine()
    tag = check_wheel(wheels[0], arch)
    n_files, n_bytes = check_sdist(sdists[0])
    print(f"check_dist: {wheels[0].name}: auditwheel agrees ({tag})")
    print(
        f"check_dist: {sdists[0].name}: {n_files} files, {n_bytes / 1e3:.0f} kB unpacked,"
        f" {sdists[0].stat().st_size / 1e3:.0f} kB packed"
    )


if __name__ == "__main__":
    main()
