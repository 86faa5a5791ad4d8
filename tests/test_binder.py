"""Binder's configuration: repo2docker accepts it, and it alone makes a working course.

The second test builds a new virtual environment from a clean copy of the tracked files
and the lock in binder/, as repo2docker would, then runs Lab 0 in it.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_repo2docker_accepts_the_binder_configuration() -> None:
    repo2docker = Path(sys.executable).parent / "repo2docker"
    result = subprocess.run(
        [str(repo2docker), "--no-build", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dockerfile = result.stdout
    # The lock is installed after the whole repository is copied, so "-e ." works.
    copy_all = dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/")
    install = dockerfile.index('-r "binder/requirements.txt"')
    assert copy_all < install
    # binder/runtime.txt chose Python 3.11.
    assert "Building conda environment for python=3.11" in result.stderr


def test_lock_pins_every_requirement_exactly() -> None:
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    requirements = [x for x in lines if x.strip() and not x.startswith("#")]
    loose = [x for x in requirements if x != "-e ." and "==" not in x]
    assert not loose, f"unpinned lines in binder/requirements.txt: {loose}"
    names = {x.split("==")[0].lower() for x in requirements}
    for needed in ("pandas", "ipywidgets", "jupyter-book", "nbval", "uvicorn"):
        assert needed in names, f"{needed} is not pinned in the lock"


def test_a_fresh_venv_from_binder_alone_runs_lab0(tmp_path: Path) -> None:
    copy = tmp_path / "course"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        source = ROOT / name.decode()
        if source.is_file():
            target = copy / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    run = subprocess.run(
        [
            str(env_dir / "bin" / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--output",
            str(tmp_path / "lab0-run.ipynb"),
            "labs/lab0-meet-your-sandbox.ipynb",
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    where = subprocess.run(
        [str(python), "-c", "import sfsandbox; print(sfsandbox.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(copy) in where
