"""relock and the torch family: a known coupling the resolver cannot see makes a relock
unresolvable (real pip-compile on the PyTorch-shaped loopback index)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from depbot.config import Config
from depbot.lock.interface import LockIndex
from depbot.lock.piptools import PipToolsBackend
from depbot.models import Kind, Update, canonicalize_name
from depbot.stages.discover import discover
from depbot.stages.relock import UNRESOLVABLE, relock
from tests.conftest import clean_env
from tests.support.torch_index import numpy
from tests.support.torch_project import torch_project

pytestmark = pytest.mark.slow


def test_numpy_2_beside_torch_2_1_is_rolled_back_as_unresolvable(tmp_path: Path) -> None:
    with torch_project(tmp_path, "cu118", torch="2.1.0") as project:
        project.publish(numpy("2.1.0"))
        lockfiles = discover(project.repo, Config())
        update = Update(
            canonicalize_name("numpy"), Version("1.26.4"), Version("2.1.0"), Kind.MAJOR,
            ("requirements.txt",),
        )  # fmt: skip
        backend = PipToolsBackend()
        result = relock(
            project.repo, lockfiles, [update], lambda _python: backend,
            LockIndex(project.index.simple), clean_env(project.index.simple),
        )  # fmt: skip
        assert result.kept == ()
        [rolled] = result.unresolvable
        assert rolled.reason == UNRESOLVABLE
        assert "numpy 2.1.0 cannot be installed beside torch 2.1.0+cu118" in rolled.detail
