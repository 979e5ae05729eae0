"""Configuration in layers, failing fast with a sentence that names the bad value."""
from __future__ import annotations

import pytest

from pharmsafe.config import ConfigError, load_settings


@pytest.mark.parametrize("env,needle", [
    ({"PHARMSAFE_ENV": "staging"}, "PHARMSAFE_ENV"),
    ({"PHARMSAFE_PROGRAM": "ukppp"}, "PHARMSAFE_PROGRAM"),
    ({"PHARMSAFE_SCHEDULER": "always"}, "PHARMSAFE_SCHEDULER"),
    ({"PHARMSAFE_EXPIRY_INTERVAL_SECONDS": "0"}, "PHARMSAFE_EXPIRY_INTERVAL_SECONDS"),
    ({"PHARMSAFE_EXPIRY_INTERVAL_SECONDS": "1.5"}, "PHARMSAFE_EXPIRY_INTERVAL_SECONDS"),
    ({"PHARMSAFE_TIME_ZONE": "Atlantis/Capital"}, "PHARMSAFE_TIME_ZONE"),
    ({"PHARMSAFE_POLICY": "ipledge-1999"}, "PHARMSAFE_POLICY"),
    ({"PHARMSAFE_POLICY": "eu-ppp-2018"}, "PHARMSAFE_POLICY"),
    ({"PHARMSAFE_CONFIG": "/nonexistent/config.py"}, "PHARMSAFE_CONFIG"),
])
def test_bad_values_stop_start_up(env, needle):
    base = {"PHARMSAFE_ENV": "testing", "PHARMSAFE_SECRET_KEY": "x" * 32}
    with pytest.raises(ConfigError, match=needle):
        load_settings(environ={**base, **env})


def test_production_requires_a_long_secret():
    with pytest.raises(ConfigError, match="PHARMSAFE_SECRET_KEY"):
        load_settings(environ={"PHARMSAFE_ENV": "production", "PHARMSAFE_SECRET_KEY": "short"})
    settings = load_settings(environ={"PHARMSAFE_ENV": "production", "PHARMSAFE_SECRET_KEY": "k" * 32})
    assert settings["ENV"] == "production"


def test_layers_default_then_file_then_environment(tmp_path):
    cfg = tmp_path / "site.py"
    cfg.write_text('ENV = "development"\nTIME_ZONE = "Europe/Paris"\nPROGRAM = "eu-ppp"\n')
    settings = load_settings(environ={"PHARMSAFE_CONFIG": str(cfg), "PHARMSAFE_TIME_ZONE": "Europe/Berlin"})
    assert settings["ENV"] == "development"
    assert settings["PROGRAM"] == "eu-ppp"
    assert settings["TIME_ZONE"] == "Europe/Berlin"
    assert settings["EXPIRY_INTERVAL_SECONDS"] == 60
    assert settings["DATABASE_URL"].startswith("sqlite:///") and settings["DATABASE_URL"].endswith("instance/pharmsafe.db")


def test_defaults():
    settings = load_settings(environ={"PHARMSAFE_ENV": "testing"})
    assert settings["PROGRAM"] == "ipledge" and settings["SCHEDULER"] == "off"
    assert settings["TIME_ZONE"] == "America/New_York" and settings["POLICY"] == ""
