"""The one-pass page parsers (PEP 691 JSON, PEP 503 HTML) and the grouping of files by version."""

from __future__ import annotations

import json

import pytest
from packaging.version import Version

from depbot.index.page import (
    MalformedPage,
    UnsupportedPage,
    by_version,
    parse_html,
    parse_json,
)
from depbot.models import DistFile, canonicalize_name


def page(*files: dict[str, object], api: str = "1.1") -> bytes:
    return json.dumps({"meta": {"api-version": api}, "name": "x", "files": list(files)}).encode()


def test_json_keeps_name_requires_python_and_yank_of_each_file() -> None:
    body = page(
        {"filename": "a-1.0.tar.gz", "url": "u", "hashes": {}, "requires-python": ">=3.8"},
        {"filename": "a-1.0-py3-none-any.whl", "url": "u", "hashes": {}, "yanked": "broken"},
        {"filename": "a-1.1.tar.gz", "url": "u", "hashes": {}, "requires-python": " ", "yanked": 0},
        {"filename": "a-1.2.tar.gz", "url": "u", "hashes": {}, "yanked": True},
    )
    assert parse_json(body) == [
        DistFile("a-1.0.tar.gz", ">=3.8"),
        DistFile("a-1.0-py3-none-any.whl", None, yanked=True),
        DistFile("a-1.1.tar.gz"),
        DistFile("a-1.2.tar.gz", yanked=True),
    ]


def test_json_shares_one_string_per_distinct_specifier() -> None:
    body = page(*({"filename": f"a-1.{i}.tar.gz", "requires-python": ">=3.9"} for i in range(3)))
    first, *rest = parse_json(body)
    assert all(f.requires_python is first.requires_python for f in rest)


@pytest.mark.parametrize(
    "body",
    [b'{"meta": {"api-version": "1.1"}, "fi', b"[]", b'{"meta": {"api-version": "1.0"}}',
     page({"url": "u"}), page({"filename": 3}), b"\xff"],
    ids=["truncated", "not-an-object", "no-files", "no-filename", "number", "not-utf8"],
)  # fmt: skip
def test_json_that_is_not_a_page_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPage):
        parse_json(body)


def test_a_newer_major_api_version_is_unsupported() -> None:
    with pytest.raises(UnsupportedPage, match=r"2\.0"):
        parse_json(page(api="2.0"))
    # a 2.x page may change the shape of its files: its version still decides, not the shape
    reshaped = json.dumps({"meta": {"api-version": "2.0"}, "files": {"a": [1]}}).encode()
    with pytest.raises(UnsupportedPage, match=r"2\.0"):
        parse_json(reshaped)
    html = b'<html><head><meta name="pypi:repository-version" content="2.0"></head></html>'
    with pytest.raises(UnsupportedPage, match=r"2\.0"):
        parse_html(html)


def test_html_reads_the_file_name_from_the_url_and_unescapes_attributes() -> None:
    body = (
        b'<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.0"></head>'
        b"<body>\n"
        b'<a href="../../f/torch-2.1.0%2Bcu118-cp311-cp311-linux_x86_64.whl#sha256=00"'
        b' data-requires-python="&gt;=3.8.0">torch-2.1.0+cu118-cp311-cp311-linux_x86_64.whl</a>\n'
        b"<A HREF='https://h.example/torch-2.0.tar.gz' data-yanked>torch-2.0.tar.gz</A>\n"
        b"<a href=torch-1.0.zip data-requires-python='&lt;4,&gt;=3.7' data-yanked=\"why\">x</a>\n"
        b'<a name="no-href">anchor</a><a href="">empty</a>\n'
        b"</body></html>"
    )
    assert parse_html(body) == [
        DistFile("torch-2.1.0+cu118-cp311-cp311-linux_x86_64.whl", ">=3.8.0"),
        DistFile("torch-2.0.tar.gz", yanked=True),
        DistFile("torch-1.0.zip", "<4,>=3.7", yanked=True),
    ]


def test_html_that_is_not_text_is_malformed() -> None:
    with pytest.raises(MalformedPage):
        parse_html(b"<a href='\xff'>")


def test_files_are_grouped_by_version_as_pip_reads_their_names() -> None:
    files = [
        DistFile(name)
        for name in [
            "scikit_learn-1.5.0-cp311-cp311-manylinux_2_17_x86_64.whl",
            "scikit-learn-1.5.0.tar.gz",
            "scikit_learn-1.5.0-1-cp312-cp312-win_amd64.whl",  # a build tag
            "Scikit.Learn-0.24.2.zip",
            "scikit-learn-0.24.2.win-amd64-py3.8.exe",  # an installer: pip ignores it
            "scikit_learn-0.20-py2.7.egg",
            "scikit-learn-not.a.version.tar.gz",
            "scikit_learn-2.0-py3-none.whl",  # too few tags
            "other_project-1.0-py3-none-any.whl",
            "scikit-learn-ext-3.0.tar.gz",  # "ext-3.0" is not PEP 440
            "README.txt",
        ]
    ]
    grouped = by_version(files, canonicalize_name("scikit-learn"))
    assert {str(v): [f.filename for f in fs] for v, fs in grouped.items()} == {
        "1.5.0": [
            "scikit_learn-1.5.0-cp311-cp311-manylinux_2_17_x86_64.whl",
            "scikit-learn-1.5.0.tar.gz",
            "scikit_learn-1.5.0-1-cp312-cp312-win_amd64.whl",
        ],
        "0.24.2": ["Scikit.Learn-0.24.2.zip"],
    }
    assert list(grouped) == [Version("1.5.0"), Version("0.24.2")]  # page order
