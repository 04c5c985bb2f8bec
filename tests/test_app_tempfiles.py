"""depbot's own temporary files during a run live in the run's folder, never the system's:
a kill at any moment leaves nothing there for the next run not to clear (SPEC §9)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from depbot import app


def test_a_runs_own_temporary_files_go_to_its_folder_and_the_default_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, run = tmp_path / "system", tmp_path / "run"
    system.mkdir()
    run.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setenv("TMPDIR", str(system))
    with app._temporary_files_in(run):
        # no probe file in the system's folder: Python is not asked to look for one
        assert tempfile.gettempdir() == str(run)
        with tempfile.TemporaryFile() as handle, tempfile.TemporaryDirectory() as folder:
            handle.write(b"captured output")
            assert Path(folder).parent == run
        assert list(system.iterdir()) == []
    assert tempfile.tempdir is None
    assert tempfile.gettempdir() == str(system)


def test_the_default_comes_back_when_the_run_fails(tmp_path: Path) -> None:
    before = tempfile.tempdir
    with pytest.raises(RuntimeError), app._temporary_files_in(tmp_path):
        raise RuntimeError("the run failed")
    assert tempfile.tempdir == before
