"""Static credentials and region of a named AWS profile, from the shared files the AWS CLI writes.

obstore (Rust object_store) reads the AWS_* variables, web identity tokens and instance or
container credentials itself, but not ``~/.aws/credentials`` profiles. When no key is in the
environment, ``profile_settings`` reads the profile named by ``AWS_PROFILE`` (else
``default``) from ``AWS_SHARED_CREDENTIALS_FILE`` (else ``~/.aws/credentials``) and its region
from ``AWS_CONFIG_FILE`` (else ``~/.aws/config``). Only static keys: SSO and role profiles
are left to the variables or the instance's role. The values never appear in messages.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from pathlib import Path

KEYS = {"aws_access_key_id": "access_key_id", "aws_secret_access_key": "secret_access_key", "aws_session_token": "token"}


def _read(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeError):
        return configparser.ConfigParser(interpolation=None)  # an unreadable file is no profile, never a crash
    return parser


def profile_settings(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """S3Store keyword arguments (``access_key_id``, ``secret_access_key``, ``token``, ``region``) from the profile;
    empty when the environment has a key already or no profile file has one."""
    if environ.get("AWS_ACCESS_KEY_ID"):
        return {}
    name = environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE") or "default"
    home = Path(environ.get("HOME") or Path.home())
    credentials = _read(Path(environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials"))
    if not credentials.has_section(name) or not credentials.get(name, "aws_access_key_id", fallback=""):
        return {}
    found = {ours: credentials.get(name, theirs) for theirs, ours in KEYS.items() if credentials.get(name, theirs, fallback="")}
    config = _read(Path(environ.get("AWS_CONFIG_FILE") or home / ".aws" / "config"))
    section = name if name == "default" else f"profile {name}"
    region = config.get(section, "region", fallback="") if config.has_section(section) else ""
    return {**found, **({"region": region} if region else {})}
