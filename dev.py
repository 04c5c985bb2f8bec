#!/usr/bin/env python3
"""Sets up ``.venv`` from ``constraints/`` and runs depbot's demo or one of its gates.

    python3 dev.py demo [ARGS…]        set up, then ``depbot demo``
    python3 dev.py test [PYTEST ARGS…] every gate that runs offline: lint, types, workflows,
                                       docs, package, then pytest with branch coverage
    python3 dev.py lint                ruff check and ruff format --check
    python3 dev.py types               mypy --strict depbot
    python3 dev.py pytest [ARGS…]      pytest with branch coverage >= 85%
    python3 dev.py workflows           check-jsonschema and zizmor --offline on .github/
    python3 dev.py docs                the Sphinx site with warnings as errors (docs/_build/html)
    python3 dev.py package [--suite] [--dist DIR]
                                       build, twine check, the wheel in a clean venv (--suite:
                                       and the test suite against it; --dist: keep the files)
    python3 dev.py audit               pip-audit on constraints/*.txt (needs the vulnerability
                                       service online: CI runs it, ``test`` does not)
    python3 dev.py release-check TAG   TAG is v<package version> and CHANGELOG.md has its section
    python3 dev.py sbom OUT            CycloneDX SBOM of depbot installed from runtime.txt
    python3 dev.py secrets             detect-secrets on the tree against .secrets.baseline
    python3 dev.py bench OUT           benchmarks/ as ratios, for .ci/bench_compare.py

Needs only Python 3.10+ and git. Every step's failure is a non-zero exit.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
CONSTRAINTS = ROOT / "constraints"
COVERAGE_MIN = 85
# Workflow files the schema and zizmor check; action.yml joins them when the repository has one.
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONS = ("action.yml", "action.yaml")
SECRETS_EXCLUDE = r"^\.secrets\.baseline$"  # the baseline's own hashes are no secrets


def venv_python(root: Path = VENV) -> Path:
    if sys.platform == "win32":
        return root / "Scripts" / "python.exe"
    return root / "bin" / "python"


def run(*argv: str | Path, cwd: Path = ROOT) -> int:
    print("+", " ".join(str(a) for a in argv), flush=True)
    return subprocess.call([str(a) for a in argv], cwd=cwd)


def _digest(*files: Path) -> str:
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def _pip(python: Path) -> tuple[str | Path, ...]:
    return (python, "-m", "pip", "install", "--disable-pip-version-check", "-q")


def ensure(extra: str) -> Path:
    """Creates the virtual environment and installs depbot (and ``extra``) when out of date."""
    lock = CONSTRAINTS / ("test.txt" if extra == "test" else "runtime.txt")
    stamp = VENV / f".depbot-{extra}"
    digest = _digest(lock, ROOT / "pyproject.toml")
    python = venv_python()
    if not python.exists():
        print(f"+ creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, upgrade_deps=False).create(VENV)
    if stamp.exists() and stamp.read_text() == digest:
        return python
    target = ".[test]" if extra == "test" else "."
    pip = _pip(python)
    if run(*pip, "--upgrade", "pip") or run(*pip, "-c", lock, "-e", target):
        sys.exit("dev.py: installing depbot failed")
    stamp.write_text(digest)
    return python


def ensure_tools(name: str) -> Path:
    """The test environment plus ``constraints/<name>.txt`` (docs or tools), when out of date.

    Those files are compiled against ``test.txt`` (and tools against ``docs.txt``), so adding
    them never moves a pin the test environment already has.
    """
    python = ensure("test")
    lock = CONSTRAINTS / f"{name}.txt"
    stamp = VENV / f".depbot-{name}"
    digest = _digest(lock, CONSTRAINTS / "test.txt")
    if stamp.exists() and stamp.read_text() == digest:
        return python
    if run(*_pip(python), "-r", lock):
        sys.exit(f"dev.py: installing constraints/{name}.txt failed")
    stamp.write_text(digest)
    return python


def tool(python: Path, name: str) -> Path:
    """A console script installed in the environment of ``python``."""
    folder = python.parent
    exe = folder / (f"{name}.exe" if sys.platform == "win32" else name)
    return exe


def project_version() -> str:
    """``version`` of ``[project]`` in pyproject.toml (no TOML parser before Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    found = re.search(r'^version\s*=\s*"([^"]+)"', project, re.MULTILINE)
    if not found:
        sys.exit("dev.py: no version in [project] of pyproject.toml")
    return found.group(1)


# ---------------------------------------------------------------------------- gates


def gate_lint(args: list[str]) -> int:
    python = ensure("test")
    return run(python, "-m", "ruff", "check", ".") or run(
        python, "-m", "ruff", "format", "--check", "."
    )


def gate_types(args: list[str]) -> int:
    return run(ensure("test"), "-m", "mypy", "--strict", "depbot")


def gate_pytest(args: list[str]) -> int:
    # the tests of the docs extension, the schemas and the workflows use the docs and tools pins
    ensure_tools("docs")
    python = ensure_tools("tools")
    # pytest's 5 (no tests collected) is a failure too: every non-zero exit is
    return run(
        python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "--cov=depbot", "--cov-branch", "--cov-report=term", "--cov-report=xml",
        f"--cov-fail-under={COVERAGE_MIN}", *args,
    )  # fmt: skip


def gate_workflows(args: list[str]) -> int:
    python = ensure_tools("tools")
    files = sorted(p for p in WORKFLOWS.iterdir() if p.suffix in (".yml", ".yaml"))
    if not files:
        print("dev.py: no workflow files in .github/workflows", flush=True)
        return 1
    check = tool(python, "check-jsonschema")
    rc = run(check, "--builtin-schema", "vendor.github-workflows", *files)
    actions = [ROOT / name for name in ACTIONS if (ROOT / name).is_file()]
    if actions:
        rc = run(check, "--builtin-schema", "vendor.github-actions", *actions) or rc
    # offline: no GitHub API (impostor commits, known-vulnerable actions need it); anything
    # above low fails, ignores are written next to the line with the reason
    zizmor = (tool(python, "zizmor"), "--offline", "--min-severity", "medium", "--no-progress")
    return run(*zizmor, *files, *actions) or rc


def gate_docs(args: list[str]) -> int:
    python = ensure_tools("docs")
    out = ROOT / "docs" / "_build"
    return run(
        python, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
        "-d", out / "doctrees", ROOT / "docs", out / "html", *args,
    )  # fmt: skip


def gate_package(args: list[str]) -> int:
    python = ensure_tools("tools")
    version = project_version()
    with tempfile.TemporaryDirectory(prefix="depbot-package-") as tmp:
        work = Path(tmp)
        dist = work / "dist"
        if run(python, "-m", "build", "--outdir", dist, ROOT):
            return 1
        artifacts = sorted(dist.iterdir())
        wheels = [a for a in artifacts if a.suffix == ".whl"]
        sdists = [a for a in artifacts if a.name.endswith(".tar.gz")]
        if len(wheels) != 1 or len(sdists) != 1:
            print(f"dev.py: expected one wheel and one sdist, got {artifacts}", flush=True)
            return 1
        if run(tool(python, "twine"), "check", "--strict", *artifacts):
            return 1
        if "--dist" in args:
            kept = ROOT / args[args.index("--dist") + 1]
            kept.mkdir(parents=True, exist_ok=True)
            for artifact in artifacts:
                shutil.copy2(artifact, kept / artifact.name)
        clean = work / "venv"
        venv.EnvBuilder(with_pip=True, upgrade_deps=False).create(clean)
        wheel_python = venv_python(clean)
        suite = "--suite" in args
        lock = CONSTRAINTS / ("test.txt" if suite else "runtime.txt")
        target = f"{wheels[0]}[test]" if suite else str(wheels[0])
        # the suite's tests of the docs extension, schemas and workflows use these pins too
        tools = ("-r", CONSTRAINTS / "docs.txt", "-r", CONSTRAINTS / "tools.txt") if suite else ()
        if run(*_pip(wheel_python), "-c", lock, target, *tools, cwd=work):
            return 1
        # from the temporary folder, so the source tree cannot be what is imported
        shown = subprocess.run(
            [str(tool(wheel_python, "depbot")), "--version"],
            cwd=work, capture_output=True, text=True, check=False,
        )  # fmt: skip
        print(f"+ depbot --version: {shown.stdout.strip()!r}", flush=True)
        if shown.returncode != 0 or shown.stdout.strip() != f"depbot {version}":
            print(f"dev.py: expected 'depbot {version}' from the built wheel", flush=True)
            return 1
        return _suite_against(wheel_python, work / "tree") if suite else 0


def _suite_against(python: Path, tree: Path) -> int:
    """Runs the test suite from a copy of the tree without ``depbot/``, so every test imports
    the installed wheel."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if name.startswith("depbot/") or not (ROOT / name).is_file():
            continue
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    where = subprocess.run(
        [str(python), "-c", "import depbot; print(depbot.__file__)"],
        cwd=tree, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(f"+ depbot imported from {where}", flush=True)
    if Path(where).resolve().is_relative_to(tree.resolve()):
        return 1
    return run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tree)


def gate_audit(args: list[str]) -> int:
    python = ensure_tools("tools")
    rc = 0
    for lock in sorted(CONSTRAINTS.glob("*.txt")):
        # every line is pinned with ==, so no resolver and no pip: each pin is looked up as is
        argv = ("-m", "pip_audit", "--strict", "--no-deps", "--disable-pip", "-r", lock)
        rc = run(python, *argv, *args) or rc
    return rc


def gate_release_check(args: list[str]) -> int:
    return run(ensure("test"), ROOT / ".ci" / "release_check.py", *args)


def gate_sbom(args: list[str]) -> int:
    if len(args) != 1:
        print("usage: python3 dev.py sbom OUT.cdx.json", flush=True)
        return 2
    out = (ROOT / args[0]).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    python = ensure_tools("tools")
    with tempfile.TemporaryDirectory(prefix="depbot-sbom-") as tmp:
        env = Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=True, upgrade_deps=False).create(env)
        locked = venv_python(env)
        lock = CONSTRAINTS / "runtime.txt"
        # depbot and exactly its locked runtime dependencies: pip itself leaves afterwards
        if run(*_pip(locked), "-c", lock, ROOT) or run(
            locked, "-m", "pip", "uninstall", "-q", "-y", "pip"
        ):
            return 1
        return run(
            tool(python, "cyclonedx-py"), "environment", "--pyproject", ROOT / "pyproject.toml",
            "--mc-type", "application", "--output-format", "JSON", "--output-file", out, locked,
        )  # fmt: skip


def _secret_keys(report: dict[str, object]) -> set[tuple[str, str, str]]:
    results = report.get("results", {})
    assert isinstance(results, dict)
    return {(f, r["type"], r["hashed_secret"]) for f, found in results.items() for r in found}


def gate_secrets(args: list[str]) -> int:
    """Scans the tracked files; a finding missing from the baseline fails (line numbers may
    move; the baseline holds only hashes)."""
    import json

    python = ensure_tools("tools")
    print("+ detect-secrets scan", flush=True)
    scanned = subprocess.run(
        [str(tool(python, "detect-secrets")), "scan", "--exclude-files", SECRETS_EXCLUDE],
        cwd=ROOT, capture_output=True, check=True,
    )  # fmt: skip
    now = json.loads(scanned.stdout)
    baseline = json.loads((ROOT / ".secrets.baseline").read_text(encoding="utf-8"))
    new = sorted(_secret_keys(now) - _secret_keys(baseline))
    for filename, kind, _ in new:
        lines = [r["line_number"] for r in now["results"][filename] if r["type"] == kind]
        print(f"dev.py: possible secret ({kind}) in {filename}, line(s) {lines}", flush=True)
    if new:
        print(
            "dev.py: remove it, or if it is no secret: detect-secrets scan --exclude-files"
            f" '{SECRETS_EXCLUDE}' > .secrets.baseline"
        )
        return 1
    print(f"dev.py: no secret beyond the {len(_secret_keys(baseline))} in .secrets.baseline")
    return 0


def gate_bench(args: list[str]) -> int:
    if len(args) != 1:
        print("usage: python3 dev.py bench OUT.json", flush=True)
        return 2
    out = (ROOT / args[0]).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    python = ensure("test")
    rc = 0
    with tempfile.TemporaryDirectory(prefix="depbot-bench-") as tmp:
        reports = []
        for script, extra, suffix in (("bisect", ["--json"], ".json"), ("plan", [], ".txt")):
            report = Path(tmp) / f"{script}{suffix}"
            print(f"+ benchmarks/{script}.py {' '.join(extra)} > {report.name}", flush=True)
            with report.open("w", encoding="utf-8") as fh:
                argv = [str(python), str(ROOT / "benchmarks" / f"{script}.py"), *extra]
                rc = subprocess.call(argv, cwd=ROOT, stdout=fh) or rc
            print(report.read_text(encoding="utf-8"), flush=True)
            reports.append(report)
        collected = run(python, ROOT / ".ci" / "bench_compare.py", "collect", out, *reports)
    return rc or collected


GATES = {
    "lint": gate_lint,
    "types": gate_types,
    "workflows": gate_workflows,
    "docs": gate_docs,
    "package": gate_package,
    "pytest": gate_pytest,
    "audit": gate_audit,
    "release-check": gate_release_check,
    "sbom": gate_sbom,
    "secrets": gate_secrets,
    "bench": gate_bench,
}
OFFLINE = ("lint", "types", "workflows", "docs", "package", "pytest")


def test(args: list[str]) -> int:
    """Every offline gate in turn (pytest gets ``args``); fails when any of them fails."""
    failed: list[str] = []
    times: list[tuple[str, float, int]] = []
    for name in OFFLINE:
        started = time.monotonic()
        rc = GATES[name](args if name == "pytest" else [])
        times.append((name, time.monotonic() - started, rc))
        if rc != 0:
            failed.append(f"{name} (exit {rc})")
    for name, seconds, rc in times:
        print(f"dev.py: {name:<10} {seconds:7.1f} s  {'ok' if rc == 0 else 'FAILED'}")
    if failed:
        print("dev.py: FAILED: " + ", ".join(failed), flush=True)
        return 1
    print("dev.py: all checks passed", flush=True)
    return 0


def demo(args: list[str]) -> int:
    python = ensure("runtime")
    return run(python, "-m", "depbot", "demo", *args)


def main() -> int:
    commands = {"demo": demo, "test": test, **GATES}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    os.chdir(ROOT)
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
