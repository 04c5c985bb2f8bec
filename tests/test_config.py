"""The configuration reader: every key, its validation, the file precedence and pip's index."""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from depbot.config import PYPI_SIMPLE, Config, IgnoreRule, MLConfig, load_config, pip_index_urls
from depbot.errors import InputError

NO_PIP = {"PIP_CONFIG_FILE": os.devnull}


def depbot_toml(repo: Path, body: str) -> Path:
    path = repo / "depbot.toml"
    path.write_text(body, encoding="utf-8")
    return path


def pyproject(repo: Path, body: str) -> Path:
    path = repo / "pyproject.toml"
    path.write_text('[project]\nname = "demo"\nversion = "1.0"\n\n' + body, encoding="utf-8")
    return path


def load(repo: Path, body: str) -> Config:
    depbot_toml(repo, body)
    return load_config(repo, NO_PIP)


def load_error(repo: Path, body: str) -> str:
    path = depbot_toml(repo, body)
    with pytest.raises(InputError) as info:
        load_config(repo, NO_PIP)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message


# ---------------------------------------- defaults and files


def test_no_configuration_file_gives_the_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path, NO_PIP)
    assert config == Config()
    assert config.source is None
    assert config.test_command == "pytest -q"
    assert config.advisories == ("pip-audit",)
    assert config.index_url == PYPI_SIMPLE
    assert config.extra_index_urls == ()
    assert config.lock_backend == "pip-tools"
    assert config.max_test_runs is None
    assert config.ml == MLConfig(enabled=True, index_url=None)


def test_pyproject_without_a_depbot_table_gives_the_defaults(tmp_path: Path) -> None:
    pyproject(tmp_path, "[tool.ruff]\nline-length = 100\n")
    assert load_config(tmp_path, NO_PIP) == Config()


def test_pyproject_depbot_table_is_read(tmp_path: Path) -> None:
    path = pyproject(tmp_path, '[tool.depbot]\ntest-command = "make test"\n')
    config = load_config(tmp_path, NO_PIP)
    assert config.source == path
    assert config.test_command == "make test"


def test_depbot_toml_wins_over_pyproject(tmp_path: Path) -> None:
    pyproject(tmp_path, '[tool.depbot]\ntest-command = "from pyproject"\n')
    dedicated = depbot_toml(tmp_path, 'test-command = "from depbot.toml"\n')
    config = load_config(tmp_path, NO_PIP)
    assert config.source == dedicated
    assert config.test_command == "from depbot.toml"


def test_pyproject_is_not_consulted_when_depbot_toml_exists(tmp_path: Path) -> None:
    # a broken [tool.depbot] would fail if it were read; depbot.toml alone is the configuration
    pyproject(tmp_path, "[tool.depbot]\nnot-a-key = 1\n")
    depbot_toml(tmp_path, "max-test-runs = 3\n")
    assert load_config(tmp_path, NO_PIP).max_test_runs == 3


def test_depbot_table_that_is_not_a_table(tmp_path: Path) -> None:
    path = pyproject(tmp_path, '[tool]\ndepbot = "yes"\n')
    with pytest.raises(InputError, match=r"\[tool\.depbot\] must be a table") as info:
        load_config(tmp_path, NO_PIP)
    assert str(path) in str(info.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = depbot_toml(tmp_path, "test-command = \n")
    with pytest.raises(InputError, match="not valid TOML") as info:
        load_config(tmp_path, NO_PIP)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    path = depbot_toml(tmp_path, "max-test-runs = 3\n")
    path.chmod(0)
    try:
        with pytest.raises(InputError, match="cannot read") as info:
            load_config(tmp_path, NO_PIP)
    finally:
        path.chmod(0o644)
    assert str(path) in str(info.value)


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, 'test-command = "pytest"\ntest-comand = "typo"\n')
    assert "unknown key 'test-comand'" in message


def test_unknown_key_in_pyproject_names_pyproject(tmp_path: Path) -> None:
    path = pyproject(tmp_path, "[tool.depbot]\nadvisory = []\n")
    with pytest.raises(InputError) as info:
        load_config(tmp_path, NO_PIP)
    assert str(info.value) == f"{path}: unknown key 'advisory'"


def test_env_defaults_to_the_process_environment(tmp_path: Path) -> None:
    depbot_toml(tmp_path, 'index-url = "http://127.0.0.1:1/simple/"\n')
    assert load_config(tmp_path).index_url == "http://127.0.0.1:1/simple/"


# ---------------------------------------- every key, good values


def test_every_key_with_a_good_value(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
test-command = "python -m pytest -x"
test-timeout = 90
advisories = ["osv-dir:advisories", "pip-audit", "osv", "github", "safety"]
osv-url = "http://127.0.0.1:9999/v1"
index-url = "http://127.0.0.1:8000/simple/"
extra-index-urls = ["https://mirror.example/simple/", "file:///srv/wheels/simple"]
lockfiles = ["locks/dev.txt", "requirements/extra.txt"]
lock-backend = "uv"
max-test-runs = 7
ignore = ["Django", "numpy >=2", "Foo_Bar==1.2.3"]
allow-prereleases = ["Some.Package"]

[group]
aws = ["boto3", "botocore", "s3transfer"]

[ml]
enabled = false
index-url = "http://127.0.0.1:8001/whl/cu121"
""",
    )
    assert config.source == tmp_path / "depbot.toml"
    assert config.test_command == "python -m pytest -x"
    assert config.test_timeout == 90.0
    assert isinstance(config.test_timeout, float)
    assert config.advisories == ("osv-dir:advisories", "pip-audit", "osv", "github", "safety")
    assert config.osv_url == "http://127.0.0.1:9999/v1"
    assert config.index_url == "http://127.0.0.1:8000/simple/"
    assert config.extra_index_urls == (
        "https://mirror.example/simple/",
        "file:///srv/wheels/simple",
    )
    assert config.lockfiles == ("locks/dev.txt", "requirements/extra.txt")
    assert config.lock_backend == "uv"
    assert config.max_test_runs == 7
    assert config.ignore == (
        IgnoreRule(canonicalize_name("django")),
        IgnoreRule(canonicalize_name("numpy"), SpecifierSet(">=2")),
        IgnoreRule(canonicalize_name("foo-bar"), SpecifierSet("==1.2.3")),
    )
    assert dict(config.groups) == {"aws": ("boto3", "botocore", "s3transfer")}
    assert config.allow_prereleases == ("some-package",)
    assert config.ml == MLConfig(enabled=False, index_url="http://127.0.0.1:8001/whl/cu121")


def test_float_timeout_and_lock_backend_pip_tools(tmp_path: Path) -> None:
    config = load(tmp_path, 'test-timeout = 2.5\nlock-backend = "pip-tools"\n')
    assert config.test_timeout == 2.5
    assert config.lock_backend == "pip-tools"


def test_allow_prereleases_true_and_false(tmp_path: Path) -> None:
    assert load(tmp_path, "allow-prereleases = true\n").allow_prereleases == ("*",)
    assert load(tmp_path, "allow-prereleases = false\n").allow_prereleases == ()


def test_config_index_url_wins_over_pip(tmp_path: Path) -> None:
    env = {**NO_PIP, "PIP_INDEX_URL": "http://127.0.0.1:1/pip/", "PIP_EXTRA_INDEX_URL": "http://x/"}
    depbot_toml(tmp_path, 'index-url = "http://127.0.0.1:2/mine/"\n')
    config = load_config(tmp_path, env)
    assert config.index_url == "http://127.0.0.1:2/mine/"
    # the configuration did not name extra indexes, so pip's apply
    assert config.extra_index_urls == ("http://x/",)


def test_pip_index_applies_when_configuration_is_silent(tmp_path: Path) -> None:
    env = {**NO_PIP, "PIP_INDEX_URL": "http://127.0.0.1:1/pip/"}
    assert load_config(tmp_path, env).index_url == "http://127.0.0.1:1/pip/"
    pyproject(tmp_path, "")
    assert load_config(tmp_path, env).index_url == "http://127.0.0.1:1/pip/"
    depbot_toml(tmp_path, "max-test-runs = 2\n")
    assert load_config(tmp_path, env).index_url == "http://127.0.0.1:1/pip/"


def test_ignores_by_name_and_by_specifier(tmp_path: Path) -> None:
    config = load(tmp_path, 'ignore = ["Django", "numpy >=2", "pandas <2.0.0rc1"]\n')
    assert config.ignores("django", "5.0")
    assert config.ignores("DJANGO", Version("1.0"))
    assert config.ignores("numpy", "2.1.0")
    assert not config.ignores("numpy", "1.26.4")
    # pre-releases match: "ignore numpy >=2" also means its release candidates
    assert config.ignores("numpy", "2.1.0rc1")
    assert not config.ignores("pandas", "2.0.0")
    assert not config.ignores("requests", "2.0")


# ---------------------------------------- every key, bad values


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        ("test-command = 3", "test-command", "a non-empty string"),
        ('test-command = "   "', "test-command", "a non-empty string"),
        ('test-timeout = "60"', "test-timeout", "a positive number"),
        ("test-timeout = true", "test-timeout", "a positive number"),
        ("test-timeout = 0", "test-timeout", "a positive number"),
        ("test-timeout = -1.5", "test-timeout", "a positive number"),
        ('advisories = "pip-audit"', "advisories", "a list of source specs"),
        ("advisories = [1]", "advisories", "a list of source specs"),
        ('advisories = ["snyk"]', "advisories", "'snyk'"),
        ('advisories = ["osv-dir:"]', "advisories", "'osv-dir:'"),
        ('advisories = ["osv-dir:   "]', "advisories", "osv-dir:PATH"),
        ("osv-url = 1", "osv-url", "a URL"),
        ('osv-url = "api.osv.example"', "osv-url", "an http(s) or file URL"),
        ('index-url = "ftp://mirror/simple"', "index-url", "an http(s) or file URL"),
        ('index-url = "file://"', "index-url", "an http(s) or file URL"),
        ("index-url = ['http://a/']", "index-url", "a URL"),
        ('extra-index-urls = "http://a/"', "extra-index-urls", "a list of URLs"),
        ('extra-index-urls = ["http://a/", "mirror"]', "extra-index-urls", "'mirror'"),
        ('lockfiles = "requirements.txt"', "lockfiles", "a list of paths"),
        ('lockfiles = ["/etc/requirements.txt"]', "lockfiles", "inside the repository"),
        ('lockfiles = ["../other/requirements.txt"]', "lockfiles", "inside the repository"),
        ('lock-backend = "poetry"', "lock-backend", "'pip-tools', 'uv'"),
        ("lock-backend = 1", "lock-backend", "'pip-tools', 'uv'"),
        ('max-test-runs = "5"', "max-test-runs", "an integer of at least 1"),
        ("max-test-runs = 2.5", "max-test-runs", "an integer of at least 1"),
        ("max-test-runs = true", "max-test-runs", "an integer of at least 1"),
        ("max-test-runs = 0", "max-test-runs", "an integer of at least 1"),
        ('ignore = "django"', "ignore", "a list of names"),
        ('ignore = ["not a name!"]', "ignore", "'not a name!'"),
        ('ignore = ["pkg @ https://example.invalid/pkg.whl"]', "ignore", "pkg @"),
        ("ignore = [\"pkg; python_version < '3.9'\"]", "ignore", "python_version"),
        ('ignore = ["pkg[extra]"]', "ignore", "pkg[extra]"),
        ('group = ["torch"]', "group", "a table of group name"),
        ("group.aws = []", "group.aws", "a non-empty list of package names"),
        ('group.aws = "boto3"', "group.aws", "a non-empty list of package names"),
        ("group.aws = [1]", "group.aws", "a non-empty list of package names"),
        ('group.aws = ["boto3>=1"]', "group.aws", "'boto3>=1'"),
        ('group.aws = ["bo to3"]', "group.aws", "'bo to3'"),
        ('group."a b" = ["boto3"]', "group.a b", "a group name of letters"),
        ('allow-prereleases = "yes"', "allow-prereleases", "true, false or a list"),
        ("allow-prereleases = [true]", "allow-prereleases", "a non-empty list of package names"),
        ("allow-prereleases = []", "allow-prereleases", "a non-empty list of package names"),
        ("ml = true", "ml", "a table"),
        ('ml.enabled = "no"', "ml.enabled", "true or false"),
        ("ml.index-url = 3", "ml.index-url", "a URL"),
        ('ml.index-url = "whl/cu121"', "ml.index-url", "an http(s) or file URL"),
    ],
)
def test_bad_value_names_file_and_key(tmp_path: Path, body: str, key: str, expected: str) -> None:
    message = load_error(tmp_path, body + "\n")
    assert f"key '{key}': expected " in message
    assert expected in message


def test_unknown_key_in_the_ml_table(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[ml]\nenabled = true\nvariant = 'cu118'\n")
    assert message.endswith("unknown key 'ml.variant'")


def test_bad_value_in_pyproject_names_pyproject(tmp_path: Path) -> None:
    path = pyproject(tmp_path, "[tool.depbot]\nmax-test-runs = 0\n")
    with pytest.raises(InputError) as info:
        load_config(tmp_path, NO_PIP)
    assert str(info.value) == f"{path}: key 'max-test-runs': expected an integer of at least 1"


# ---------------------------------------- pip's index settings


def pip_conf(path: Path, **values: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    section = values.pop("section", "global")
    body = f"[{section}]\n" + "".join(f"{k.replace('_', '-')} = {v}\n" for k, v in values.items())
    path.write_text(body, encoding="utf-8")
    return path


def system_pip_sets_index() -> bool:
    """Whether a file these tests cannot redirect (/etc/pip.conf, the venv's) names an index."""
    for path in (Path("/etc/pip.conf"), Path(sys.prefix) / "pip.conf"):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error):
            continue
        for section in parser.sections():
            if parser.has_option(section, "index-url") or parser.has_option(
                section, "extra-index-url"
            ):
                return True
    return False


needs_quiet_system_pip = pytest.mark.skipif(
    system_pip_sets_index(), reason="this machine's /etc/pip.conf names an index"
)


def pip_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "XDG_CONFIG_DIRS": str(tmp_path / "xdg-dirs"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-home"),
        **extra,
    }


def home_of(tmp_path: Path) -> Path:
    return tmp_path / "home"


@needs_quiet_system_pip
def test_no_pip_configuration_means_pypi(tmp_path: Path) -> None:
    assert pip_index_urls(pip_env(tmp_path), home=lambda: home_of(tmp_path)) == (PYPI_SIMPLE, ())


@needs_quiet_system_pip
def test_global_xdg_file(tmp_path: Path) -> None:
    pip_conf(
        tmp_path / "xdg-dirs" / "pip" / "pip.conf",
        index_url="http://global/simple/",
        extra_index_url="http://e1/ http://e2/",
    )
    assert pip_index_urls(pip_env(tmp_path), home=lambda: home_of(tmp_path)) == (
        "http://global/simple/",
        ("http://e1/", "http://e2/"),
    )


@needs_quiet_system_pip
def test_user_files_override_global(tmp_path: Path) -> None:
    pip_conf(tmp_path / "xdg-dirs" / "pip" / "pip.conf", index_url="http://global/")
    pip_conf(home_of(tmp_path) / ".pip" / "pip.conf", index_url="http://legacy-user/")
    env = pip_env(tmp_path)
    assert pip_index_urls(env, home=lambda: home_of(tmp_path))[0] == "http://legacy-user/"
    pip_conf(tmp_path / "xdg-home" / "pip" / "pip.conf", index_url="http://user/")
    assert pip_index_urls(env, home=lambda: home_of(tmp_path))[0] == "http://user/"


@needs_quiet_system_pip
def test_user_file_defaults_to_home_config(tmp_path: Path) -> None:
    pip_conf(home_of(tmp_path) / ".config" / "pip" / "pip.conf", index_url="http://home-config/")
    env = {"XDG_CONFIG_DIRS": str(tmp_path / "xdg-dirs")}
    assert pip_index_urls(env, home=lambda: home_of(tmp_path))[0] == "http://home-config/"


@needs_quiet_system_pip
def test_install_section_counts_too(tmp_path: Path) -> None:
    pip_conf(
        tmp_path / "xdg-home" / "pip" / "pip.conf", section="install", index_url="http://inst/"
    )
    assert pip_index_urls(pip_env(tmp_path), home=lambda: home_of(tmp_path))[0] == "http://inst/"


@needs_quiet_system_pip
def test_pip_config_file_overrides_the_other_files(tmp_path: Path) -> None:
    pip_conf(tmp_path / "xdg-home" / "pip" / "pip.conf", index_url="http://user/")
    explicit = pip_conf(tmp_path / "explicit.conf", index_url="http://explicit/")
    env = pip_env(tmp_path, PIP_CONFIG_FILE=str(explicit))
    assert pip_index_urls(env, home=lambda: home_of(tmp_path)) == ("http://explicit/", ())


@needs_quiet_system_pip
def test_missing_pip_config_file_is_ignored(tmp_path: Path) -> None:
    pip_conf(tmp_path / "xdg-home" / "pip" / "pip.conf", index_url="http://user/")
    env = pip_env(tmp_path, PIP_CONFIG_FILE=str(tmp_path / "missing.conf"))
    assert pip_index_urls(env, home=lambda: home_of(tmp_path))[0] == "http://user/"


@needs_quiet_system_pip
def test_unparsable_pip_file_is_skipped(tmp_path: Path) -> None:
    pip_conf(tmp_path / "xdg-dirs" / "pip" / "pip.conf", index_url="http://global/")
    broken = tmp_path / "xdg-home" / "pip" / "pip.conf"
    broken.parent.mkdir(parents=True)
    broken.write_text("index-url = no section header\n", encoding="utf-8")
    assert pip_index_urls(pip_env(tmp_path), home=lambda: home_of(tmp_path))[0] == "http://global/"


def test_environment_variables_override_files(tmp_path: Path) -> None:
    explicit = pip_conf(
        tmp_path / "explicit.conf", index_url="http://file/", extra_index_url="http://file-extra/"
    )
    env = pip_env(
        tmp_path,
        PIP_CONFIG_FILE=str(explicit),
        PIP_INDEX_URL="http://env/",
        PIP_EXTRA_INDEX_URL="http://x1/  http://x2/",
    )
    assert pip_index_urls(env, home=lambda: home_of(tmp_path)) == (
        "http://env/",
        ("http://x1/", "http://x2/"),
    )


def test_devnull_disables_every_file(tmp_path: Path) -> None:
    pip_conf(tmp_path / "xdg-dirs" / "pip" / "pip.conf", index_url="http://global/")
    pip_conf(tmp_path / "xdg-home" / "pip" / "pip.conf", extra_index_url="http://user-extra/")
    pip_conf(home_of(tmp_path) / ".pip" / "pip.conf", index_url="http://legacy/")
    env = pip_env(tmp_path, PIP_CONFIG_FILE=os.devnull)
    assert pip_index_urls(env, home=lambda: home_of(tmp_path)) == (PYPI_SIMPLE, ())
    # the environment still applies, as it does for pip
    env["PIP_INDEX_URL"] = "http://env/"
    assert pip_index_urls(env, home=lambda: home_of(tmp_path)) == ("http://env/", ())


def test_empty_environment_values_are_ignored(tmp_path: Path) -> None:
    env = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "", "PIP_EXTRA_INDEX_URL": ""}
    assert pip_index_urls(env, home=lambda: home_of(tmp_path)) == (PYPI_SIMPLE, ())
