"""Bad settings are one clear line and exit status 2, never a traceback or a silent
default; every setting is read from its environment variable."""

import os
import subprocess
import sys
from dataclasses import fields

import pytest

from understudy.settings import Settings, SettingsError


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "understudy", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"UNDERSTUDY_PORT": "abc"}, "UNDERSTUDY_PORT='abc': not a whole number"),
        ({"UNDERSTUDY_TIME_SCALE": "fast"}, "UNDERSTUDY_TIME_SCALE='fast': not a number"),
        ({"UNDERSTUDY_TIME_SCALE": "-1"}, "UNDERSTUDY_TIME_SCALE=-1.0: must be at least 0"),
        ({"UNDERSTUDY_JOURNAL_SIZE": "-1"}, "UNDERSTUDY_JOURNAL_SIZE=-1: must be at least 0"),
        ({"UNDERSTUDY_RELOAD": "maybe"}, "UNDERSTUDY_RELOAD='maybe': not one of 1, true"),
        ({"UNDERSTUDY_LOG_LEVEL": "verbose"}, "UNDERSTUDY_LOG_LEVEL='verbose': must be one of"),
        ({"UNDERSTUDY_WORKERS": "0"}, "UNDERSTUDY_WORKERS=0: must be at least 1"),
    ],
)
def test_a_bad_environment_setting_is_one_line_and_exit_2(env: dict, expected: str) -> None:
    result = serve(env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("understudy: " + expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--time-scale", "-1"), "UNDERSTUDY_TIME_SCALE=-1.0: must be at least 0"),
        (("--journal-size", "-1"), "UNDERSTUDY_JOURNAL_SIZE=-1: must be at least 0"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(args: tuple[str, ...], expected: str) -> None:
    result = serve(*args)
    assert result.returncode == 2
    assert result.stderr.strip() == "understudy: " + expected


def test_a_bad_chaos_or_engine_profile_names_what_is_wrong(tmp_path) -> None:
    (tmp_path / "chaos.yaml").write_text("chaos: {probabilty: 0.5, faults: []}\n")
    result = serve("--chaos", str(tmp_path / "chaos.yaml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("understudy: invalid chaos profile:")
    assert "probabilty" in result.stderr and "invalid scenarios" not in result.stderr
    (tmp_path / "engine.yaml").write_text("max_running: none\n")
    result = serve("--engine", str(tmp_path / "engine.yaml"))
    assert result.returncode == 2
    assert result.stderr.startswith("understudy: invalid engine profile:")


def test_every_setting_has_its_own_environment_variable() -> None:
    names = [spec.metadata["env"] for spec in fields(Settings)]
    assert len(names) == len(set(names))
    assert all(name.startswith("UNDERSTUDY_") for name in names)


def test_environment_values_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {
            "UNDERSTUDY_PORT": "9000",
            "UNDERSTUDY_TIME_SCALE": "0",
            "UNDERSTUDY_RELOAD": "off",
            "UNDERSTUDY_CORS_ORIGINS": "http://localhost:3000,https://a.example:8443",
            "UNDERSTUDY_API_KEYS": "k1, k2",
            "UNDERSTUDY_SCENARIOS": os.pathsep.join(["a", "b"]),
            "UNDERSTUDY_ADMIN_TOKEN": "",
        }
    )
    assert (settings.port, settings.time_scale, settings.reload) == (9000, 0.0, False)
    assert settings.cors_origins == ["http://localhost:3000", "https://a.example:8443"]
    assert settings.api_keys == ["k1", "k2"] and settings.scenarios == ["a", "b"]
    assert settings.admin_token is None
    with pytest.raises(SettingsError, match="UNDERSTUDY_MAX_BODY_BYTES"):
        Settings.from_env({"UNDERSTUDY_MAX_BODY_BYTES": "0"})
