"""Whether a release installs on the lockfile's Python: decided per file, exactly as pip decides.

The table tests state the rule (a file's ``Requires-Python`` and, for a wheel, its Python and
ABI tags; the non-yanked files of a release decide); the last test asks pip itself, with
``pip download --python-version X.Y`` on a loopback index, and compares its choice with
depbot's for every case and Python.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from depbot.index.cache import PageStore
from depbot.index.http import make_session
from depbot.index.page import JSON_TYPE
from depbot.index.simple import SimpleIndex
from depbot.models import DistFile, Release, canonicalize_name
from tests.conftest import clean_env
from tests.support.index_server import serve_index
from tests.support.wheels import Dist, build_wheel

PYTHONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


@pytest.mark.parametrize(
    ("filename", "requires_python", "accepted"),
    [
        ("x-1-py3-none-any.whl", None, PYTHONS),
        ("x-1-py3-none-any.whl", ">=3.10", ["3.10", "3.11", "3.12", "3.13"]),
        ("x-1-py3-none-any.whl", "not a specifier", PYTHONS),  # pip ignores it too
        ("x-1.tar.gz", "<3.9", ["3.8"]),
        ("x-1-cp311-cp311-manylinux_2_17_x86_64.whl", ">=3.8", ["3.11"]),
        ("x-1-cp39-abi3-win_amd64.whl", None, ["3.9", "3.10", "3.11", "3.12", "3.13"]),
        ("x-1-cp310.cp311-cp310.cp311-linux_x86_64.whl", None, ["3.10", "3.11"]),
        ("x-1-py311-none-any.whl", None, ["3.11", "3.12", "3.13"]),
        ("x-1-cp312-none-any.whl", None, ["3.12"]),
        ("x-1-py2-none-any.whl", None, []),
        ("x-1-pp39-pypy39_pp73-linux_x86_64.whl", None, []),
        ("x-1-1-CP38-CP38-linux_x86_64.whl", None, ["3.8"]),  # a build tag, upper case
        ("x-1-py3-none.whl", None, []),  # not a wheel name pip accepts
    ],
)
def test_a_file_installs_where_its_requires_python_and_tags_allow(
    filename: str, requires_python: str | None, accepted: list[str]
) -> None:
    f = DistFile(filename, requires_python)
    assert [p for p in PYTHONS if f.installable_on(Version(p))] == accepted


def test_the_live_files_of_a_release_decide_not_a_merged_specifier() -> None:
    release = Release(
        Version("1"),
        files=(
            DistFile("x-1-py3-none-any.whl", ">=3.11"),
            DistFile("x-1-py2.py3-none-any.whl", ">=3.6,<3.10"),
            DistFile("x-1.tar.gz", ">=3.0", yanked=True),
        ),
    )
    assert [p for p in PYTHONS if release.installable_on(Version(p))] == [
        "3.8",
        "3.9",
        "3.11",
        "3.12",
        "3.13",
    ]
    assert release.installable_on(None)


def test_a_yanked_release_is_judged_on_all_its_files() -> None:
    # installable only through an exact pin, but then on the Pythons its files allow
    release = Release(Version("1"), yanked=True, files=(DistFile("x-1.tar.gz", "<3.9", True),))
    assert release.installable_on(Version("3.8"))
    assert not release.installable_on(Version("3.9"))


def test_a_release_described_by_hand_uses_its_requires_python() -> None:
    release = Release(Version("1"), requires_python=SpecifierSet(">=3.10"))
    assert not release.installable_on(Version("3.9"))
    assert release.installable_on(Version("3.10"))
    assert Release(Version("1")).installable_on(Version("2.7"))


# ---------------------------------------------------------------------------- against pip

# case → version → [(wheel tags, Requires-Python, yanked)]; every case also has 0.1 for any
# Python, so that pip always finds something and its choice is a version
Y, N = True, False
CASES: dict[str, dict[str, list[tuple[str, str | None, bool]]]] = {
    "split-range": {"1.0": [("py3-none-any", ">=3.11", N),
                            ("py2.py3-none-any", ">=3.6,<3.10", N)]},
    "cpython-only": {"2.0": [("cp310-cp310-linux_x86_64", ">=3.8", N),
                             ("cp311-cp311-linux_x86_64", ">=3.8", N)]},
    "stable-abi": {"1.0": [("cp39-abi3-linux_x86_64", ">=3.9", N)]},
    "newest-yanked": {"1.5": [("py3-none-any", None, N)], "2.0": [("py3-none-any", None, Y)]},
    "yanked-file": {"2.0": [("py3-none-any", ">=3.12", N), ("py2.py3-none-any", ">=3.8", Y)]},
    "python2": {"1.0": [("py2-none-any", None, N)]},
    "invalid-range": {"1.0": [("py3-none-any", "=>3.8", N)]},
    "pre-release": {"2.0rc1": [("py3-none-any", None, N)], "1.0": [("py3-none-any", "<3.12", N)]},
    "minor-tag": {"1.0": [("py311-none-any", None, N)]},
    "interpreter-only": {"1.0": [("cp312-none-any", None, N)]},
    "compressed-tags": {"1.0": [("cp310.cp311-cp310.cp311-linux_x86_64", None, N)]},
    # the same tags for several platforms are one install shape: depbot keeps one of them
    "platforms": {"2.0": [("cp312-cp312-win_amd64", ">=3.12", N),
                          ("cp312-cp312-linux_x86_64", ">=3.12", N),
                          ("cp310-cp310-macosx_11_0_arm64", ">=3.10", N),
                          ("cp310-cp310-linux_x86_64", ">=3.10", N)]},
}  # fmt: skip


def publish(root: Path, server_overrides: dict[str, tuple[str, bytes]]) -> None:
    files = root / "files"
    scratch = root / "scratch"
    for case, versions in CASES.items():
        entries = []
        for version, wheels in {"0.1": [("py3-none-any", None, False)], **versions}.items():
            for tags, rp, yanked in wheels:
                valid = rp is not None and _valid(rp)
                built = build_wheel(
                    Dist(case, version, requires_python=rp if valid else None), scratch
                )
                name = f"{case.replace('-', '_')}-{version}-{tags}.whl"
                shutil.move(built, files / name)
                entries.append(
                    {"filename": name, "url": f"../../files/{name}", "hashes": {},
                     "requires-python": rp, "yanked": yanked}
                )  # fmt: skip
        doc = {"meta": {"api-version": "1.1"}, "name": case, "files": entries}
        server_overrides[case] = (JSON_TYPE, json.dumps(doc).encode())


def _valid(rp: str) -> bool:
    try:
        SpecifierSet(rp)
    except ValueError:
        return False
    return True


def pips_choice(url: str, python: str, dest: Path) -> dict[str, str]:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--no-cache-dir", "--python-version", python, "--index-url", url, "-d", str(dest),
               *CASES]  # fmt: skip
    done = subprocess.run(command, env=clean_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    chosen = {}
    for wheel in dest.iterdir():
        name, version = wheel.name.split("-")[:2]
        chosen[name.replace("_", "-")] = version
    return chosen


def depbots_choice(index: SimpleIndex, python: str) -> dict[str, str]:
    chosen = {}
    for case in CASES:
        releases = index.releases(canonicalize_name(case))
        ok = [
            r.version
            for r in releases
            if not r.yanked and not r.version.is_prerelease and r.installable_on(Version(python))
        ]
        chosen[case] = str(max(ok))
    return chosen


class _NoRequests:
    def get(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the store should have answered")


@pytest.mark.slow
def test_depbot_chooses_what_pip_chooses_for_each_python(tmp_path: Path) -> None:
    with serve_index(tmp_path / "index") as server:
        (tmp_path / "index" / "files").mkdir(parents=True, exist_ok=True)
        publish(tmp_path / "index", server.overrides)
        index = SimpleIndex(server.url, make_session())
        # and from the page store, which keeps one file per install shape
        store = PageStore(tmp_path / "store")
        filling = SimpleIndex(server.url, make_session(), store, 600)
        for case in CASES:
            filling.releases(canonicalize_name(case))
        stored = SimpleIndex(server.url, _NoRequests(), store, 600)  # type: ignore[arg-type]
        for python in PYTHONS:
            pip = pips_choice(server.url, python, tmp_path / f"pip-{python}")
            assert depbots_choice(index, python) == pip, python
            assert depbots_choice(stored, python) == pip, python
