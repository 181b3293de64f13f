#!/usr/bin/env python3
"""Set up and run the exchange with nothing but Python 3.11+.

    python3 dev.py demo   # a virtualenv in .venv, the package, then the demo exchange on :8000
    python3 dev.py test   # the same setup with test tools, then the whole test suite

Extra arguments go to `exchange serve` (demo) or to pytest (test).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
# The browser tests drive the system's Chromium (Debian's `chromium`), never a downloaded one.
CHROMIUM = Path("/usr/bin/chromium")


def setup(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script must speak on older Pythons too
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    # Reinstall only when the dependencies (or the extras asked for) changed.
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f".[{extras}]" if extras else "."
    print(f"installing {target} into .venv", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, cwd=ROOT)
    subprocess.run([*pip, "-e", target], check=True, cwd=ROOT)
    stamp.write_text(digest)


def ensure_chromium() -> None:
    """Install Debian's chromium for the browser tests where apt can (as root); elsewhere they skip."""
    if CHROMIUM.exists():
        return
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if shutil.which("apt-get") is None or not is_root:
        print(f"no {CHROMIUM} and no apt-get as root: the browser tests will skip", flush=True)
        return
    print("installing Debian's chromium for the browser tests (apt-get)", flush=True)
    done = _apt("install", "-y", "-qq", "--no-install-recommends", "chromium")
    if done.returncode != 0:  # a fresh machine may not have read the package lists yet
        _apt("update", "-qq")
        done = _apt("install", "-y", "-qq", "--no-install-recommends", "chromium")
    if done.returncode != 0:
        print(f"could not install chromium: {done.stderr.strip()[-300:]}", flush=True)


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def main() -> int:
    command, *rest = sys.argv[1:] or ["help"]
    if command == "demo":
        setup("")
        return subprocess.call([str(BIN / "exchange"), "serve", "--demo", *rest], cwd=ROOT)
    if command == "test":
        setup("test")
        ensure_chromium()
        return subprocess.call([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)
    print(__doc__)
    return 0 if command == "help" else 2


if __name__ == "__main__":
    sys.exit(main())
