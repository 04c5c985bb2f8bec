"""``depbot serve --repo``: a signed alert starts a security run on the repository, and the
``depbot/security`` branch appears (real pip-compile, git, venvs and a loopback index)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from depbot.forge.git import depbot_dir
from depbot.server.queue import queue_path, unfinished_jobs
from tests.support.serve import SECRET, ServeProcess, deliver, fixture, new_delivery
from tests.support.tiny_project import build_template, release, tiny_project

pytestmark = pytest.mark.slow

RECORD = {
    "id": "GHSA-9wx4-h78v-vm56",
    "aliases": ["CVE-2024-35195"],
    "modified": "2026-01-01T00:00:00Z",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "gamma"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}],
        }
    ],
}


def test_an_alert_starts_a_security_run_and_a_branch_appears(tmp_path: Path) -> None:
    template = build_template(tmp_path / "tiny")
    new = [release("alpha", "1.1"), release("gamma", "1.0.1")]
    with tiny_project(tmp_path, template, *new, config='lock-backend = "uv"\n') as project:
        (tmp_path / "advisories" / "GHSA-9wx4-h78v-vm56.json").write_text(json.dumps(RECORD))
        payload = fixture("dependabot_alert.created")
        payload["alert"]["dependency"]["package"]["name"] = "gamma"
        payload["alert"]["security_vulnerability"]["first_patched_version"]["identifier"] = "1.0.1"
        env = project.env(DEPBOT_WEBHOOK_SECRET=SECRET)
        with ServeProcess.start("--repo", str(project.repo), env=env) as server:
            delivery = new_delivery()
            status, doc = deliver(server.url, "dependabot_alert", payload, delivery=delivery)
            assert status == 202, doc
            server.wait_for(f"done: {delivery}", timeout=240)
            assert project.branches() == ["depbot/security"]
            assert project.pins("depbot/security")["gamma"] == "1.0.1"
            assert project.pins("depbot/security")["alpha"] == "1.0"  # only the security batch
            assert project.git("rev-parse", "--abbrev-ref", "HEAD") == "main"
            # a redelivery is a duplicate, and starts no second run
            assert deliver(server.url, "dependabot_alert", payload, delivery=delivery)[1] == {
                "ignored": "duplicate"
            }
            time.sleep(0.5)
            assert server.log.count("done:") == 1
        assert unfinished_jobs(queue_path(depbot_dir(project.repo))) == ()
