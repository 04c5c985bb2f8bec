"""GitHub settings from the environment and the origin URL; the token never shows itself."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
from pathlib import Path

import pytest

from depbot.errors import InputError
from depbot.forge.github import wants_github
from depbot.github_api import Secret, github_settings, parse_remote, settings_from

TOKEN = "ghp_supersecret000"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/octo/proj.git", ("github.com", "octo/proj")),
        ("https://x-access-token:abc@github.com/octo/proj", ("github.com", "octo/proj")),
        ("http://ghe.corp:8080/team/app.git", ("ghe.corp", "team/app")),
        ("ssh://git@github.com/octo/proj.git", ("github.com", "octo/proj")),
        ("ssh://git@GitHub.com:22/octo/proj", ("github.com", "octo/proj")),
        ("git@github.com:octo/proj.git", ("github.com", "octo/proj")),
        ("github.com:octo/proj", ("github.com", "octo/proj")),
        ("/srv/git/github/octo/proj.git", None),
        ("./github.com/octo/proj", None),
        ("file:///github.com/octo/proj.git", None),
        ("https://github.com/octo/proj/extra", None),
        ("https://github.com/", None),
        ("C:/github/octo/proj", None),
    ],
)
def test_parse_remote(url: str, expected: tuple[str, str] | None) -> None:
    assert parse_remote(url) == expected


def test_no_token_no_settings() -> None:
    assert settings_from({}, "https://github.com/octo/proj.git") is None
    assert settings_from({"GITHUB_TOKEN": ""}, "https://github.com/octo/proj.git") is None


def test_settings_from_an_actions_environment() -> None:
    env = {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": "octo/proj",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_SERVER_URL": "https://github.com",
    }
    settings = settings_from(env, "https://github.com/octo/proj")

    assert settings is not None
    assert settings.repository == "octo/proj" and settings.owner == "octo"
    assert settings.api_url == "https://api.github.com"
    assert settings.server_url == "https://github.com"
    assert settings.remote_is_github and settings.token.reveal() == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)


def test_repository_from_origin_and_enterprise_hosts() -> None:
    env = {"DEPBOT_GITHUB_TOKEN": TOKEN, "GITHUB_SERVER_URL": "https://ghe.corp"}
    settings = settings_from(env, "git@ghe.corp:team/app.git")

    assert settings is not None
    assert settings.repository == "team/app"
    assert settings.api_url == "https://ghe.corp/api/v3"
    assert settings.remote_is_github


def test_a_path_that_merely_contains_github_is_not_a_github_remote() -> None:
    env = {"GITHUB_TOKEN": TOKEN}
    assert settings_from(env, "/home/me/github/octo/proj.git") is None
    assert settings_from(env, "https://gitlab.com/github/proj.git") is None
    assert settings_from(env, "https://github.com.evil.example/octo/proj") is None
    explicit = settings_from({**env, "GITHUB_REPOSITORY": "octo/proj"}, "/srv/github/proj.git")
    assert explicit is not None and not explicit.remote_is_github


def test_invalid_repository_names_are_refused() -> None:
    assert settings_from({"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "octo"}, None) is None
    bad = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "octo/proj/../x"}
    assert settings_from(bad, None) is None


def test_forge_selection() -> None:
    github = settings_from({"GITHUB_TOKEN": TOKEN}, "https://github.com/octo/proj")
    not_remote = settings_from({"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "o/p"}, "/srv/p.git")

    assert wants_github("auto", github) is True
    assert wants_github("auto", not_remote) is False
    assert wants_github("auto", None) is False
    assert wants_github("local", github) is False
    assert wants_github("github", not_remote) is True
    with pytest.raises(InputError, match="GITHUB_TOKEN"):
        wants_github("github", None)


def test_github_settings_reads_the_origin_of_a_repository(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "remote", "add", "origin", "git@github.com:octo/proj.git"],
        check=True,
    )
    settings = github_settings(tmp_path, {"GITHUB_TOKEN": TOKEN})
    assert settings is not None and settings.repository == "octo/proj"


def test_secret_hides_itself_and_scrubs_text() -> None:
    secret = Secret(TOKEN)
    assert repr(secret) == str(secret) == f"{secret}" == "Secret('***')"
    assert (
        secret == Secret(TOKEN) and secret != Secret("other") and hash(secret) == hash(Secret(""))
    )
    assert secret.scrub(f"failed with {TOKEN} here") == "failed with *** here"
    assert Secret("").scrub("text") == "text"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    settings = settings_from({"GITHUB_TOKEN": TOKEN}, "git@github.com:o/p.git")
    assert settings is not None and TOKEN not in repr(dataclasses.asdict(settings))


def test_repository_dispatch_reaches_the_api() -> None:
    from depbot.errors import RunError
    from depbot.github_api import ApiBudget, GitHubClient, GitHubSettings
    from tests.support.fake_github import FakeGitHub

    with FakeGitHub("octo/proj", token=TOKEN) as api:
        settings = GitHubSettings(Secret(TOKEN), "octo/proj", api.api, api.web, True)
        client = GitHubClient(settings, throttle=False, budget=ApiBudget(1, sleep=lambda _: None))
        payload = {"packages": ["requests"], "advisory": "GHSA-x", "delivery": "d-1"}

        client.dispatch("security-advisory", payload)

        assert api.repo.dispatches == [
            {"event_type": "security-advisory", "client_payload": payload}
        ]
        with pytest.raises(RunError, match="at most 10 keys"):
            client.dispatch("security-advisory", {str(i): i for i in range(11)})
        api.token = "revoked"
        with pytest.raises(RunError, match=r"repository_dispatch .* 401 Bad credentials"):
            client.dispatch("security-advisory", payload)
