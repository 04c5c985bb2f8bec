"""``depbot plan`` and ``depbot run`` on projects pinning the torch family of a CUDA/CPU variant
(SPEC §6, issue 10), against a loopback index laid out like the PyTorch wheel index.

Real pip-compile, pip, venvs and git. The fake torch releases behave as the real ones where it
matters: partners pin the public torch exactly (so the resolver never checks the variant), a
partner refuses a torch of another variant, torch below 2.3 refuses numpy 2. torch 2.9.0 is
published with an invented ``Requires-Python >=3.12`` to prove the lockfile's Python (3.11 or
whichever runs the tests, below 3.12) is honoured per release.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import clean_env
from tests.support.layouts import git
from tests.support.torch_index import family, numpy
from tests.support.torch_project import TorchProject, torch_project

pytestmark = pytest.mark.slow

OSV_TORCH = Path(__file__).resolve().parent.parent / "fixtures" / "osv" / "vulns" / "torch"
UNREACHABLE = f">={sys.version_info[0]}.{sys.version_info[1] + 1}"


def batches(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["id"]: b for b in doc["batches"]}


def targets(batch: dict[str, Any]) -> dict[str, str]:
    return {u["name"]: u["target"] for u in batch.get("kept", batch.get("updates", []))}


def newer_releases(project: TorchProject) -> None:
    """cu118 ends at 2.7.1; cu126 has 2.7.1 and 2.8.0 (and 2.9.0 for a newer Python only)."""
    project.publish(
        *family("2.1.0", "cu118"), *family("2.6.0", "cu118"), *family("2.7.1", "cu118"),
        *family("2.7.1", "cu126"), *family("2.8.0", "cu126"),
        *family("2.9.0", "cu126", UNREACHABLE), *family("2.9.0", None, UNREACHABLE),
        *family("2.1.0", None), *family("2.7.1", None), *family("2.8.0", None),
        numpy("2.1.0"),
    )  # fmt: skip


def fresh_install_passes(project: TorchProject, branch: str, where: Path) -> str:
    """Installs ``branch``'s lockfile into a new venv (its own index lines only) and runs the
    project's tests from a checkout of that branch; returns the test output."""
    checkout = where / "checkout"
    git(project.repo, "worktree", "add", "-q", str(checkout), branch)
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = clean_env()  # no PIP_INDEX_URL: the lockfile says where it installs from
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "-r", "requirements.txt"],
        cwd=checkout, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    done = subprocess.run(
        [str(python), "-m", "unittest", "discover", "-s", "tests", "-v"],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stderr


def no_numpy2_below_torch_2_3(project: TorchProject, branch: str) -> None:
    pins = project.pins(branch)
    torch = tuple(int(p) for p in pins["torch"].partition("+")[0].split(".")[:2])
    numpy_major = int(pins["numpy"].split(".")[0])
    assert not (numpy_major >= 2 and torch < (2, 3)), pins


def test_a_cu118_lockfile_moves_as_one_unit_to_the_last_cu118_set(tmp_path: Path) -> None:
    with torch_project(tmp_path, "cu118") as project:
        newer_releases(project)
        cu118, cu126 = project.index.whl("cu118"), project.index.whl("cu126")

        code, text, err = project.depbot("plan")
        assert code == 0, err
        assert f"the cu118 builds of torch end at 2.7.1 ({cu118} has no torch 2.8.0)" in text
        assert "major-torch" in text

        code, plan, err = project.plan()
        assert code == 0, err
        found = batches(plan)
        assert sorted(found) == ["major-torch", "minor"]
        assert targets(found["minor"]) == {
            "torch": "2.7.1+cu118", "torchaudio": "2.7.1+cu118", "torchvision": "0.22.1+cu118",
        }  # fmt: skip
        assert targets(found["major-torch"]) == {
            "torch": "2.8.0+cu126", "torchaudio": "2.8.0+cu126", "torchvision": "0.23.0+cu126",
        }  # fmt: skip
        minor = [u for u in plan["updates"] if u["kind"] == "minor"]
        assert {u["name"] for u in minor} == {"torch", "torchvision", "torchaudio"}
        assert not any(u["breaking"] for u in minor)  # torchvision 0.15 → 0.22 follows torch
        assert len(plan["notes"]) == 1 and "proposed only as major-torch" in plan["notes"][0]
        assert [s["name"] for s in plan["skipped"]] == ["numpy"]
        assert "beside torch 2.0.1+cu118" in plan["skipped"][0]["reason"]
        # the partners' torch pins were read from the metadata files the cu118 index announces
        assert project.index.hits.get(
            "/whl/cu118/torchvision-0.22.1+cu118-py3-none-any.whl.metadata"
        )

        code, run, err = project.run()
        assert code == 0, err
        outcome = batches(run)
        assert outcome["minor"]["status"] == "opened"
        assert outcome["minor"]["rolled_back"] == [] and outcome["minor"]["moved"] == []
        assert project.pins("depbot/minor") == {
            "numpy": "1.26.4", "torch": "2.7.1+cu118", "torchaudio": "2.7.1+cu118",
            "torchvision": "0.22.1+cu118",
        }  # fmt: skip
        published = project.show("depbot/minor")
        assert f"--extra-index-url {cu118}\n" in published and cu126 not in published
        major = project.show("depbot/major-torch")
        assert f"--extra-index-url {cu126}\n" in major and cu118 not in major
        # the source moves with it, so the next pip-compile stays on cu126; the minor's does not
        source, before = (
            project.show(b, "requirements.in") for b in ("depbot/major-torch", "HEAD")
        )
        assert cu118 in before and source == before.replace(cu118, cu126)
        assert project.show("depbot/minor", "requirements.in") == project.show(
            "HEAD", "requirements.in"
        )
        for branch in ("depbot/minor", "depbot/major-torch"):
            no_numpy2_below_torch_2_3(project, branch)
        assert "ok" in fresh_install_passes(project, "depbot/minor", tmp_path / "fresh")

        heads = {
            b: git(project.repo, "rev-parse", b) for b in ("depbot/minor", "depbot/major-torch")
        }
        code, again, err = project.run()
        assert code == 0, err
        assert {b["id"]: (b["status"], b["test_runs"]) for b in again["batches"]} == {
            "minor": ("unchanged", 0), "major-torch": ("unchanged", 0),
        }  # fmt: skip
        assert heads == {b: git(project.repo, "rev-parse", b) for b in heads}


def test_a_cpu_lockfile_stays_cpu(tmp_path: Path) -> None:
    with torch_project(tmp_path, "cpu") as project:
        project.publish(
            *family("2.7.1", "cpu"), *family("2.8.0", "cpu"), *family("2.8.0", "cu126"),
            *family("2.8.0", None), numpy("1.26.5"),
        )  # fmt: skip
        code, plan, err = project.plan()
        assert code == 0, err
        assert plan["notes"] == []
        assert targets(batches(plan)["minor"]) == {
            "numpy": "1.26.5", "torch": "2.8.0+cpu", "torchaudio": "2.8.0+cpu",
            "torchvision": "0.23.0+cpu",
        }  # fmt: skip
        assert "major-torch" not in batches(plan)
        code, run, err = project.run()
        assert code == 0, err
        assert batches(run)["minor"]["status"] == "opened"
        published = project.show("depbot/minor")
        assert (
            "+cu" not in published and f"--extra-index-url {project.index.whl('cpu')}" in published
        )


def test_a_torch_security_fix_moves_the_family_in_the_security_batch(tmp_path: Path) -> None:
    with torch_project(tmp_path, "cu118") as project:
        shutil.copy(OSV_TORCH / "CVE-2025-32434.yaml", tmp_path / "advisories")
        newer_releases(project)
        code, plan, err = project.plan()
        assert code == 0, err
        security = batches(plan)["security"]
        # the lowest cu118 set free of the advisory (fixed in 2.6.0), partners with it
        assert targets(security) == {
            "torch": "2.6.0+cu118", "torchaudio": "2.6.0+cu118", "torchvision": "0.21.0+cu118",
        }  # fmt: skip
        assert targets(batches(plan)["minor"])["torch"] == "2.7.1+cu118"
        code, run, err = project.run("--trigger", "security")
        assert code == 0, err
        assert [b["id"] for b in run["batches"]] == ["security"]
        assert batches(run)["security"]["status"] == "opened"
        assert project.pins("depbot/security")["torchvision"] == "0.21.0+cu118"


def test_numpy_2_is_not_proposed_beside_torch_2_1(tmp_path: Path) -> None:
    with torch_project(tmp_path, "cu118", torch="2.1.0") as project:
        project.publish(*family("2.1.2", "cu118"), numpy("2.1.0"))
        code, plan, err = project.plan()
        assert code == 0, err
        assert all(u["name"] != "numpy" for b in plan["batches"] for u in b["updates"])
        [reason] = [s["reason"] for s in plan["skipped"] if s["name"] == "numpy"]
        assert "numpy 2.1.0 cannot be installed beside torch 2.1.0+cu118" in reason
        code, run, err = project.run()
        assert code == 0, err
        assert batches(run)["minor"]["status"] == "opened"
        assert project.pins("depbot/minor")["torch"] == "2.1.2+cu118"
        no_numpy2_below_torch_2_3(project, "depbot/minor")
