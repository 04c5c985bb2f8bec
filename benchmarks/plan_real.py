"""``depbot plan`` on the 20 real pins: real-shaped loopback pages, or the real index; Renovate
beside it when installed. Run through ``benchmarks/plan.py --real-shaped`` / ``--online``.

Each depbot run is a fresh process that imports ``depbot.cli``, then times ``main(["plan", …])``
(wall and CPU) and reports its peak RSS; the process's own wall time (start-up and imports
included) is printed beside it. Cold: an empty cache folder; warm: the same folder again, as a
rerun within the freshness window finds it. The best of ``--repeat`` runs of each kind counts,
as a shared machine's load only ever adds time. Renovate (``renovate@39``, ``--platform=local
--dry-run=lookup``) runs on a copy of the same lockfile with an empty cache folder.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks import real_index

ROOT = Path(__file__).resolve().parent.parent
PEAK_GOAL_MB = 80.0

# The peak RSS of this process: VmHWM belongs to the process's own memory, whereas ru_maxrss
# survives exec and so starts at the (large) benchmark parent's size.
PEAK = r"""
def peak_mb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

# The child: imports depbot's CLI, then measures the plan alone; prints one JSON line.
DRIVER = (
    PEAK
    + r"""
import io, json, os, sys, time
t0 = time.perf_counter()
from depbot.cli import main
t1, c1 = time.perf_counter(), time.process_time()
out, err = io.StringIO(), io.StringIO()
code = main(sys.argv[1:], env=dict(os.environ), out=out, err=err)
t2, c2 = time.perf_counter(), time.process_time()
import depbot
print(json.dumps({"code": code, "imports": t1 - t0, "wall": t2 - t1, "cpu": c2 - c1,
                  "depbot": os.path.dirname(os.path.dirname(depbot.__file__)),
                  "peak_mb": peak_mb(), "out": out.getvalue(), "err": err.getvalue()}))
"""
)

# Runs a command and prints its wall time and peak RSS: spawned from this small process, the
# command's ru_maxrss starts from this process's size, not from the benchmark's.
WRAPPER = r"""
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
output = child.stdout.read()
_, status, usage = os.wait4(child.pid, 0)
child.returncode = os.waitstatus_to_exitcode(status)
tail = output.decode(errors="replace")[-3000:]
print(json.dumps({"code": child.returncode, "wall": time.perf_counter() - start,
                  "peak_mb": usage.ru_maxrss / 1024, "tail": tail}))
"""


@dataclass(frozen=True)
class Run:
    wall: float
    """``main(["plan", …])`` alone."""
    cpu: float
    peak_mb: float
    process: float
    """The whole process: interpreter start-up, imports, plan, exit."""
    requests: int
    updates: int


@dataclass(frozen=True)
class RenovateRun:
    wall: float
    peak_mb: float
    deps: int
    with_updates: int


def run_depbot(
    repo: Path, env: Mapping[str, str], depbot: Path, index: real_index.RealIndex | None
) -> Run:
    child_env = dict(env, PYTHONPATH=str(depbot))
    command = [sys.executable, "-c", DRIVER, "plan", "--repo", str(repo), "--format", "json"]
    before = index.requests() if index is not None else 0
    start = time.perf_counter()
    # run from the repository, not from here: ``-c`` puts the working folder first on sys.path
    done = subprocess.run(
        command, cwd=repo, env=child_env, capture_output=True, text=True, check=False
    )
    process = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the plan process failed:\n{done.stderr}")
    result = json.loads(done.stdout.splitlines()[-1])
    if Path(result["depbot"]).resolve() != depbot.resolve():
        raise SystemExit(f"measured the depbot of {result['depbot']}, not of {depbot}")
    if result["code"] != 0:
        raise SystemExit(f"depbot plan exited {result['code']}:\n{result['err']}")
    plan = json.loads(result["out"])
    # an update held back by a decision (numpy 2 beside an old torch) is fine; a lookup that
    # failed would make the figures meaningless
    unlooked = [s for s in plan["skipped"] if " is not proposed " not in s["reason"]]
    if unlooked:
        raise SystemExit(f"depbot plan skipped packages: {unlooked[:3]}")
    requests = (index.requests() - before) if index is not None else -1
    return Run(
        result["wall"],
        result["cpu"],
        result["peak_mb"],
        process,
        requests,
        len(plan["updates"]),
    )


def run_renovate(renovate: Path, lockfile: str, work: Path, env: Mapping[str, str]) -> RenovateRun:
    repo = Path(tempfile.mkdtemp(prefix="renovate-repo-", dir=work))
    (repo / "requirements.txt").write_text(lockfile, encoding="utf-8")
    report = repo.parent / f"{repo.name}-report.json"
    child_env = dict(
        env, RENOVATE_BASE_DIR=str(repo.parent / f"{repo.name}-base"), LOG_LEVEL="warn"
    )
    command = [str(renovate), "--platform=local", "--dry-run=lookup", "--onboarding=false",
               "--require-config=optional", "--report-type=file",
               f"--report-path={report}"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command],
        cwd=repo, env=child_env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    measured = json.loads(done.stdout.splitlines()[-1]) if done.stdout else {"code": -1}
    if measured["code"] != 0 or not report.exists():
        raise SystemExit(f"renovate failed ({measured}):\n{done.stderr[-3000:]}")
    doc = json.loads(report.read_text())
    deps = [
        dep
        for files in doc["repositories"]["local"]["packageFiles"].values()
        for package_file in files
        for dep in package_file["deps"]
    ]
    with_updates = sum(1 for d in deps if d.get("updates"))
    return RenovateRun(measured["wall"], measured["peak_mb"], len(deps), with_updates)


def find_renovate(given: str | None) -> Path | None:
    """``--renovate`` (a folder ``npm install renovate@39`` was run in, or the executable), else
    ``renovate`` on PATH."""
    if given:
        path = Path(given)
        if path.is_dir():
            path = path / "node_modules" / ".bin" / "renovate"
        if not path.exists():
            raise SystemExit(f"no renovate at {path}")
        return path
    found = shutil.which("renovate")
    return Path(found) if found else None


def transfer_seconds(index: real_index.RealIndex) -> float:
    """The time to download every page once, one after the other, with no latency: what the
    bytes cost on this loopback, whatever the client."""
    latency, index.latency = index.latency, 0.0
    parts = urlsplit(index.url)
    try:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
        start = time.perf_counter()
        for name in index.pages:
            connection.request(
                "GET", f"{parts.path}{name}/", headers={"Accept": real_index.JSON_TYPE}
            )
            connection.getresponse().read()
        seconds = time.perf_counter() - start
        connection.close()
    finally:
        index.latency = latency
    return seconds


def depbot_env(cache: Path, index_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "DEPBOT_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, DEPBOT_CACHE_DIR=str(cache))
    if index_url:
        env["PIP_INDEX_URL"] = index_url
    return env


def make_repo(repo: Path, lockfile: str, advisories: Sequence[str] = ()) -> Path:
    """The project: the lockfile, its source, and ``advisories`` as its advisory sources
    (none by default: Renovate's lookup consults none either; ``osv-dir:osv`` is an empty
    folder)."""
    (repo / "osv").mkdir(parents=True)
    sources = ", ".join(json.dumps(a) for a in advisories)
    (repo / "pyproject.toml").write_text(f"[tool.depbot]\nadvisories = [{sources}]\n")
    (repo / "requirements.in").write_text("".join(f"{n}\n" for n in real_index.PINS))
    (repo / "requirements.txt").write_text(lockfile)
    return repo


def measure(
    repo: Path,
    work: Path,
    repeat: int,
    depbot: Path,
    index_url: str | None,
    index: real_index.RealIndex | None,
) -> tuple[list[Run], list[Run]]:
    colds, warms = [], []
    for i in range(repeat):
        env = depbot_env(work / f"cache-{i}", index_url)
        colds.append(run_depbot(repo, env, depbot, index))
        warms.append(run_depbot(repo, env, depbot, index))
    return colds, warms


def best(runs: Sequence[Run]) -> Run:
    return min(runs, key=lambda r: r.wall)


def print_runs(label: str, runs: Sequence[Run]) -> Run:
    b = best(runs)
    print(
        f"  {label:<22} {b.wall:7.3f} s wall  {b.cpu:6.3f} s CPU  {b.peak_mb:6.1f} MB peak"
        f"  {b.process:6.3f} s process  {b.requests:3d} requests  {b.updates} updates"
    )
    print(f"  {'':<22} (all runs: {', '.join(f'{r.wall:.3f}' for r in runs)} s)")
    return b


def print_goals(goals: Sequence[tuple[str, float, float, bool]]) -> bool:
    ok = True
    for label, value, bound, at_least in goals:
        passed = value >= bound if at_least else value <= bound
        ok = ok and passed
        print(f"  {label:<44} {value:8.2f}   {'PASS' if passed else 'FAIL'}")
    return ok


def real_shaped(
    latency: float,
    pool: int,
    repeat: int,
    depbot: Path,
    renovate: Path | None,
    advisories: Sequence[str] = (),
) -> int:
    summary = real_index.load()
    lockfile = real_index.lockfile()
    with tempfile.TemporaryDirectory(prefix="depbot-bench-real-") as tmp:
        work = Path(tmp)
        repo = make_repo(work / "repo", lockfile, advisories)
        with real_index.serve(summary, latency) as index:
            transfer = transfer_seconds(index)
            colds, warms = measure(repo, work, repeat, depbot, index.url, index)
            renovate_run = None
            if renovate is not None:
                written = f"--index-url {index.url}\n" + lockfile
                renovate_run = run_renovate(renovate, written, work, os.environ)
        files = sum(len(s["files"]) for s in summary.values())
        megabytes = index.page_bytes() / 1e6
    limit = math.ceil(len(summary) / pool) * latency + transfer
    print()
    ms = latency * 1000
    print(f"real-shaped pages: {len(summary)} projects, {files} files, {megabytes:.1f} MB of JSON")
    for name, n, versions, specifiers in real_index.shape(summary):
        print(
            f"  {name:<14} {n:6d} files  ~{versions:4d} versions  {specifiers:3d} Requires-Python"
        )
    print(f"latency {ms:.0f} ms, pool {pool}; transfer (one by one, no latency) {transfer:.3f} s")
    print(f"network limit = ceil({len(summary)}/{pool}) x {ms:.0f} ms + transfer = {limit:.3f} s")
    print(f"depbot's advisory sources: {', '.join(advisories) or 'none'}")
    print()
    cold = print_runs("depbot plan, cold", colds)
    warm = print_runs("depbot plan, warm", warms)
    goals = [
        ("cold / network limit <= 2", cold.wall / limit, 2, False),
        ("cold / warm >= 10", cold.wall / warm.wall, 10, True),
        (f"peak MB (cold) <= {PEAK_GOAL_MB:.0f}", cold.peak_mb, PEAK_GOAL_MB, False),
    ]
    goals += renovate_goals(renovate_run, cold)
    print()
    return 0 if print_goals(goals) else 1


def online(repeat: int, depbot: Path, renovate: Path | None, advisories: Sequence[str] = ()) -> int:
    lockfile = real_index.lockfile()
    with tempfile.TemporaryDirectory(prefix="depbot-bench-online-") as tmp:
        work = Path(tmp)
        repo = make_repo(work / "repo", lockfile, advisories)
        colds, warms = measure(repo, work, repeat, depbot, None, None)
        renovate_run = None
        if renovate is not None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
            renovate_run = run_renovate(renovate, lockfile, work, env)
    print()
    print(f"the real index, the default of depbot's configuration: {len(real_index.PINS)} pins")
    print(f"depbot's advisory sources: {', '.join(advisories) or 'none'}")
    cold = print_runs("depbot plan, cold", colds)
    warm = print_runs("depbot plan, warm", warms)
    goals = [
        ("cold process wall s <= 2.5", cold.process, 2.5, False),
        ("cold / warm >= 10", cold.wall / warm.wall, 10, True),
        (f"peak MB (cold) <= {PEAK_GOAL_MB:.0f}", cold.peak_mb, PEAK_GOAL_MB, False),
    ]
    goals += renovate_goals(renovate_run, cold)
    print()
    return 0 if print_goals(goals) else 1


def renovate_goals(run: RenovateRun | None, cold: Run) -> list[tuple[str, float, float, bool]]:
    if run is None:
        print("  renovate: not installed (npm install renovate@39 into a folder; --renovate DIR)")
        return []
    print(
        f"  {'renovate, cold':<22} {run.wall:7.3f} s wall  {'':6} {'':11}{run.peak_mb:6.1f} MB peak"
        f"  ({run.deps} dependencies looked up, {run.with_updates} with updates)"
    )
    if run.deps != len(real_index.PINS):
        raise SystemExit(f"renovate looked up {run.deps} dependencies, not {len(real_index.PINS)}")
    return [
        ("depbot cold process / renovate cold <= 1/3", cold.process / run.wall, 1 / 3, False),
        ("depbot peak / renovate peak <= 1/4", cold.peak_mb / run.peak_mb, 1 / 4, False),
    ]
