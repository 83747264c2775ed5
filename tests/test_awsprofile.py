"""AWS profiles: static keys and region from the shared files, only when the environment has no key."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.sources.awsprofile import profile_settings

CREDENTIALS = """
[default]
aws_access_key_id = DEFAULTKEY
aws_secret_access_key = defaultsecret

[media]
aws_access_key_id = MEDIAKEY
aws_secret_access_key = mediasecret
aws_session_token = mediatoken

[sso-only]
sso_start_url = https://example.invalid
"""
CONFIG = """
[default]
region = eu-west-1

[profile media]
region = eu-central-1
"""


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, {"access_key_id": "DEFAULTKEY", "secret_access_key": "defaultsecret", "region": "eu-west-1"},
                     id="default-profile"),
        pytest.param({"AWS_PROFILE": "media"}, {"access_key_id": "MEDIAKEY", "secret_access_key": "mediasecret",
                                                "token": "mediatoken", "region": "eu-central-1"}, id="named-profile"),
        pytest.param({"AWS_PROFILE": "media", "AWS_ACCESS_KEY_ID": "ENVKEY"}, {}, id="environment-key-wins"),
        pytest.param({"AWS_PROFILE": "sso-only"}, {}, id="no-static-key-left-to-obstore"),
        pytest.param({"AWS_PROFILE": "missing"}, {}, id="unknown-profile"),
    ],
)
def test_profile_settings(tmp_path: Path, environ: dict[str, str], expected: dict[str, str]) -> None:
    (tmp_path / "credentials").write_text(CREDENTIALS)
    (tmp_path / "config").write_text(CONFIG)
    files = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"), "AWS_CONFIG_FILE": str(tmp_path / "config")}
    assert profile_settings({**files, **environ}) == expected


def test_no_files_or_unreadable_files_are_no_profile(tmp_path: Path) -> None:
    (tmp_path / "credentials").write_bytes(b"\xff\xfe[broken")
    assert profile_settings({"HOME": str(tmp_path / "nowhere")}) == {}
    assert profile_settings({"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials")}) == {}
