"""Semantic versions: the one type every version string is read with."""

import pytest

from annotate.errors import InputError
from annotate.registry.staging import STAGING
from annotate.semver import Bump, SemVer, VersionError


@pytest.mark.parametrize("text", ["1.0", "1.0.0.0", "01.0.0", "1.0.0-rc1", "v1.0.0", "", " 1.0.0"])
def test_what_is_not_a_version_is_refused_with_one_sentence(text):
    with pytest.raises(VersionError, match=r"is not a semantic version like 1\.0\.0") as caught:
        SemVer.parse(text, "--version")
    assert str(caught.value).startswith(f"--version {text!r}")
    assert isinstance(caught.value, InputError) and isinstance(caught.value, ValueError)
    assert not SemVer.is_valid(text)


def test_versions_compare_by_number_not_by_text():
    texts = ["1.10.0", "1.2.0", "0.9.12", "2.0.0", "1.2.10", "1.2.9"]
    assert [str(v) for v in sorted(map(SemVer.parse, texts))] == [
        "0.9.12",
        "1.2.0",
        "1.2.9",
        "1.2.10",
        "1.10.0",
        "2.0.0",
    ]
    assert SemVer.parse("1.2.3") == SemVer(1, 2, 3)


def test_a_bump_resets_the_lower_parts():
    version = SemVer.parse("1.4.2")
    assert [str(version.bump(part)) for part in ("patch", "minor", "major")] == [
        "1.4.3",
        "1.5.0",
        "2.0.0",
    ]
    with pytest.raises(ValueError):
        version.bump(Bump.NONE)


@pytest.mark.parametrize(
    ("old", "new", "bump"),
    [
        ("1.4.2", "2.0.0", Bump.MAJOR),
        ("1.4.2", "1.5.0", Bump.MINOR),
        ("1.4.2", "1.4.3", Bump.PATCH),
        ("1.4.2", "1.4.2", Bump.NONE),
        ("1.4.2", "1.3.9", Bump.DOWNGRADE),
        ("2.0.0", "1.9.9", Bump.DOWNGRADE),
    ],
)
def test_the_bump_between_two_versions(old, new, bump):
    assert SemVer.parse(new).bump_from(SemVer.parse(old)) is bump


def test_bumps_rank_by_size():
    assert [bump.rank for bump in Bump] == [-1, 0, 1, 2, 3]


def test_staging_folders_are_named_after_a_version():
    assert STAGING.fullmatch(".1.2.0-abc_123")
    assert not STAGING.fullmatch(".1.2-abc") and not STAGING.fullmatch("1.2.0-abc")
