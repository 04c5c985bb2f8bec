"""Index faults, end to end: what each kind reads as, and what one hanging page costs.

    python benchmarks/faults.py                 # the kinds table and the hanging-page costs
    python benchmarks/faults.py --pip-defaults  # also a run with pip's own timeout/retries

Builds the tiny project of ``tests/support/tiny_project.py`` (four packages, a new release of
alpha) behind the fault-injecting proxy of ``tests/support/fault_proxy.py`` and prints:

1. fault kinds tried / reported correctly: each kind (persistent and passing, JSON and HTML
   pages) on one package, through ``depbot plan --format json``; "correct" is the reason its
   kind deserves (never "not found"), or the page read when the fault passes;
2. the cost of one hanging page (beta's, with the default 30 s ``index-timeout``) in ``plan``,
   in ``run`` when only depbot's lookups hang, and in ``run`` when pip-compile's do too
   (bounded by depbot's PIP_TIMEOUT/PIP_RETRIES defaults; ``--pip-defaults`` sets pip's own
   15 s / 5 retries, as before), each beside the same command without the fault.
"""

from __future__ import annotations

import sys
from pathlib import Path

# this folder holds a bisect.py: it must not shadow the standard library's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.fault_proxy import FAULT_KINDS, fault_proxy, route_through  # noqa: E402
from tests.support.tiny_project import build_template, release, tiny_project  # noqa: E402

WORDS = {
    "500": "answered HTTP 500",
    "503": "answered HTTP 503",
    "garbage-html": "malformed page",
    "garbage-json": "malformed page",
    "truncated": "truncated body",
    "hang": "timed out",
}


def _depbot(project: Any, env: dict[str, str], *argv: str) -> tuple[int, dict[str, Any], float]:
    shutil.rmtree(project.cache, ignore_errors=True)  # every page is asked for again
    started = time.monotonic()
    code, out, _ = project.depbot(*argv, "--format", "json", **env)
    return code, json.loads(out), time.monotonic() - started


def kinds_table(root: Path, template: Path) -> tuple[int, int]:
    tried = correct = 0
    with tiny_project(root, template) as project, fault_proxy(project.index) as proxy:
        env = route_through(project, proxy, "index-timeout = 5\n")
        print(f"{'fault':<14}{'pages':<6}{'times':<7}{'hits':>5}  reason")
        for json_pages in (True, False):
            project.index.json_pages = json_pages
            for kind in FAULT_KINDS:
                for times in (None, 1):
                    proxy.faults.clear()
                    proxy.hits.clear()
                    proxy.fault("beta", kind, times)
                    _, doc, _ = _depbot(project, env, "plan")
                    reason = {s["name"]: s["reason"] for s in doc["skipped"]}.get("beta")
                    if times is None:
                        ok = reason is not None and WORDS[kind] in reason
                    else:
                        ok = reason is None
                    tried += 1
                    correct += ok
                    shown = "read" if reason is None else reason.split("beta/ ", 1)[-1]
                    pages = "json" if json_pages else "html"
                    hits = proxy.page_hits("beta")
                    mark = "" if ok else "   <-- WRONG"
                    print(f"{kind:<14}{pages:<6}{times or 'all'!s:<7}{hits:>5}  {shown}{mark}")
    return tried, correct


def hanging_costs(root: Path, template: Path, pip_defaults: bool) -> None:
    cases = [
        ("plan", "depbot/", {}),
        ("run --dry-run", "depbot/", {}),
        ("run --dry-run", "", {}),
    ]
    if pip_defaults:
        cases.append(("run --dry-run", "", {"PIP_TIMEOUT": "15", "PIP_RETRIES": "5"}))
    print(f"\n{'command':<15}{'who hangs':<18}{'pip env':<22}{'clean s':>8}{'hang s':>8}"
          f"{'cost s':>8}{'exit':>5}{'pip hits':>9}")  # fmt: skip
    for i, (command, agent, pip) in enumerate(cases):
        where = root / f"hang-{i}"
        with (
            tiny_project(where, template, release("alpha", "1.1")) as project,
            fault_proxy(project.index) as proxy,
        ):
            env = {**route_through(project, proxy), **pip}
            _, _, clean = _depbot(project, env, *command.split())
            proxy.fault("beta", "hang", agent=agent)
            code, _, hung = _depbot(project, env, *command.split())
            pip_hits = proxy.faulted_by["/simple/beta/", "pip"]
            who = "depbot only" if agent else "depbot and pip"
            shown = " ".join(f"{k}={v}" for k, v in pip.items()) or "depbot's defaults"
            print(f"{command:<15}{who:<18}{shown:<22}{clean:>8.1f}{hung:>8.1f}"
                  f"{hung - clean:>8.1f}{code:>5}{pip_hits:>9}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-defaults", action="store_true", help="also pip's own retries")
    parser.add_argument("--no-kinds", action="store_true", help="skip the kinds table")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="depbot-faults-"))
    try:
        template = build_template(root / "template")
        if not args.no_kinds:
            tried, correct = kinds_table(root / "kinds", template)
            print(f"\nfault kinds tried / reported correctly: {tried} / {correct}")
        hanging_costs(root, template, args.pip_defaults)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
