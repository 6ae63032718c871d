"""Measure the compressed slug of a Heroku-style deployment, the way the host counts it.

The host's slug is the app's folder after the build: the pushed checkout less what
``.slugignore`` names, plus ``.heroku/python`` (the Python runtime and the packages pip
installed from ``requirements.txt``), packed as a gzipped tar; Heroku refuses one over
500 MB. This script rebuilds that here: it copies the checkout's files (tracked or not
ignored, as a push of them would carry) less ``.slugignore``, installs the requirements
file into a clean venv with pip (from the copy, so ``.`` and ``./deploy`` resolve as on the
host), and gzips (level 6, as ``tar czf``) three parts: the app, the venv's site-packages,
and this interpreter's standard library (the runtime the host brings; its test suite and
static libraries left out). Each part is compressed on its own, so their sizes add up.

    python scripts/slug_size.py                     # requirements.txt, the slim deploy
    python scripts/slug_size.py --requirements requirements-full.txt --local-torch

The venv needs only the package registry pip is set up for. tests/test_slim_deploy.py uses
:func:`copy_app` and :func:`install` to run the slim deploy's commands.
"""

from __future__ import annotations

import argparse
import fnmatch
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

log = logging.getLogger("slug_size")

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 500.0
MB = 1_000_000
# Left out of the runtime part: CPython's own test suite and the static library for
# embedding, which a running app never reads.
RUNTIME_SKIP = {"site-packages", "test"}
INSTALL_TIMEOUT = 1200


class SlugError(Exception):
    """A step of the measurement failed: one line for stderr, exit 1."""


@dataclass(frozen=True)
class Slug:
    """The compressed sizes (bytes) of the slug's parts."""

    app: int
    packages: int
    runtime: int

    @property
    def total(self) -> int:
        return self.app + self.packages + self.runtime


def read_slugignore(root: Path) -> list[str]:
    """The patterns of ``root/.slugignore`` (none if there is no such file)."""
    path = root / ".slugignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether ``.slugignore``'s patterns remove ``path`` (relative, with ``/``).

    The syntax is .gitignore's without negation: a pattern with a ``/`` other than a
    trailing one is anchored at the root, any other matches a name at any depth, and a
    folder that matches takes everything in it along.
    """
    parts = PurePosixPath(path).parts
    for raw in patterns:
        pattern = raw.rstrip("/")
        anchored = "/" in pattern
        pattern = pattern.lstrip("/")
        for depth in range(1, len(parts) + 1):
            if raw.endswith("/") and depth == len(parts):
                continue  # a folder pattern; this is the file itself
            if anchored:
                hit = fnmatch.fnmatchcase("/".join(parts[:depth]), pattern)
            else:
                hit = fnmatch.fnmatchcase(parts[depth - 1], pattern)
            if hit:
                return True
    return False


def app_files(root: Path) -> list[str]:
    """The checkout's files a push carries: tracked, or new and not ignored by git."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise SlugError(f"cannot list the checkout's files with git ({exc})") from None
    names = [n for n in out.decode("utf-8").split("\0") if n]
    return sorted(n for n in names if (root / n).exists() or (root / n).is_symlink())


def copy_app(root: Path, dest: Path) -> list[str]:
    """Copy the checkout to ``dest`` as the host gets it (less ``.slugignore``); return the
    paths left out."""
    patterns = read_slugignore(root)
    dropped: list[str] = []
    for name in app_files(root):
        if ignored(name, patterns):
            dropped.append(name)
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target, follow_symlinks=False)
    return dropped


def install(venv: Path, requirements: Path, app: Path, *, local_torch: bool = False) -> None:
    """Make a clean venv and pip-install ``requirements`` into it from the app's folder."""
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                   timeout=300)
    lines = requirements.read_text(encoding="utf-8").splitlines()
    if local_torch:  # this machine has CPU torch in pip's wheel folder, not PyTorch's index
        lines = [ln for ln in lines if not ln.startswith("--extra-index-url")]
    copy = venv / "requirements.txt"
    copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    command = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
               "--no-input", "-r", str(copy)]
    try:
        done = subprocess.run(command, cwd=app, env=env, capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SlugError(f"pip install -r {requirements.name} took over "
                        f"{INSTALL_TIMEOUT} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SlugError(f"pip install -r {requirements.name} failed: {tail}")


class _Counter:
    """A write-only file that counts the bytes written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def gzipped_size(members: list[tuple[Path, str]]) -> int:
    """The size of a tar.gz (gzip level 6) of ``(path, name in the archive)`` trees."""
    counter = _Counter()
    fileobj: IO[bytes] = counter  # type: ignore[assignment]
    with tarfile.open(mode="w:gz", fileobj=fileobj, compresslevel=6) as tar:
        for path, arcname in members:
            tar.add(path, arcname=arcname)
    return counter.size


def _runtime_members() -> list[tuple[Path, str]]:
    """This interpreter's standard library, binary and shared library, as the host's
    ``.heroku/python`` holds them."""
    prefix = Path(sys.base_prefix)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    where = f".heroku/python/lib/{stdlib.name}"
    members = [(p, f"{where}/{p.name}") for p in sorted(stdlib.iterdir())
               if p.name not in RUNTIME_SKIP and not p.name.startswith("config-")]
    binary = prefix / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    members.append((binary.resolve(), f".heroku/python/bin/{binary.name}"))
    library = sysconfig.get_config_var("INSTSONAME")
    if library and (prefix / "lib" / library).exists():
        members.append(((prefix / "lib" / library).resolve(),
                        f".heroku/python/lib/{library}"))
    return members


def measure(app: Path, venv: Path) -> Slug:
    """The compressed sizes of the app, the installed packages and the runtime."""
    packages = next((venv / "lib").glob("python3*/site-packages"))
    where = f".heroku/python/lib/{packages.parent.name}/site-packages"
    return Slug(app=gzipped_size([(app, ".")]),
                packages=gzipped_size([(packages, where)]),
                runtime=gzipped_size(_runtime_members()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt",
                        help="the requirements file the host installs (default: %(default)s)")
    parser.add_argument("--local-torch", action="store_true",
                        help="drop --extra-index-url lines (torch from pip's wheel folder)")
    parser.add_argument("--work", type=Path,
                        help="build here and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="slug_size: %(message)s")
    requirements = args.requirements.resolve()
    if not requirements.is_file():
        print(f"slug_size: error: no requirements file {args.requirements}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="slug-") as tmp:
        work = args.work.resolve() if args.work else Path(tmp)
        app, venv = work / "app", work / "venv"
        shutil.rmtree(app, ignore_errors=True)
        try:
            dropped = copy_app(ROOT, app)
            log.info("app copied; .slugignore leaves out %d file(s): %s", len(dropped),
                     ", ".join(dropped) or "none")
            started = time.monotonic()
            install(venv, requirements, app, local_torch=args.local_torch)
            log.info("installed %s in %.0f s", requirements.name, time.monotonic() - started)
            slug = measure(app, venv)
        except SlugError as exc:
            print(f"slug_size: error: {exc}", file=sys.stderr)
            return 1
    print(f"{requirements.name}: app {slug.app / MB:.1f} MB + packages "
          f"{slug.packages / MB:.1f} MB + Python runtime {slug.runtime / MB:.1f} MB = "
          f"{slug.total / MB:.1f} MB compressed (limit {LIMIT_MB:.0f} MB)")
    return 0 if slug.total <= LIMIT_MB * MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
