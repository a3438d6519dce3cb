"""Shared fixtures: the repository root, the demo profile, the CLI binary and the Rust
identity vectors (written by `cargo run --release -p provmark-ffi --example identity_vectors`)."""

import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEMO_PROFILE = ROOT / "testdata" / "demo" / "PUBLIC-DEMO-KEY.profile.json"


def _target_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def _cargo(*args: str) -> None:
    subprocess.run(["cargo", *args], cwd=ROOT, check=True)


@pytest.fixture(scope="session")
def demo_profile_path() -> pathlib.Path:
    return DEMO_PROFILE


@pytest.fixture(scope="session")
def cli() -> pathlib.Path:
    """The `provmark` binary (built here if the workspace build did not leave one)."""
    exe = _target_dir() / "release" / "provmark"
    if not exe.exists():
        _cargo("build", "--release", "-q", "-p", "provmark-cli")
    return exe


@pytest.fixture(scope="session")
def identity_dir(tmp_path_factory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("identity")
    _cargo("run", "--release", "-q", "-p", "provmark-ffi", "--example", "identity_vectors", "--", str(d))
    yield d
    shutil.rmtree(d, ignore_errors=True)
