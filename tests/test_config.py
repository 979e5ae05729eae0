"""Configuration in layers, failing fast with a sentence that names the bad value."""
from __future__ import annotations

from datetime import date

import pytest

from pharmsafe.config import ConfigError, load_settings
from pharmsafe.gates import POLICIES
from pharmsafe.services.context import ProgramConfig


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
    ({"PHARMSAFE_POLICY_EFFECTIVE": "ipledge-2099=2026-10-01"}, "PHARMSAFE_POLICY_EFFECTIVE"),
    ({"PHARMSAFE_POLICY_EFFECTIVE": "ipledge-2026=2026-13-01"}, "PHARMSAFE_POLICY_EFFECTIVE"),
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
    assert settings["POLICY_EFFECTIVE"] == {}


BASE = {"PHARMSAFE_ENV": "testing", "PHARMSAFE_SECRET_KEY": "x" * 32}


@pytest.mark.parametrize(("value", "expected"), [
    ("", {}),
    ("  ", {}),
    ("ipledge-2026=2026-10-01", {"ipledge-2026": date(2026, 10, 1)}),
    ("ipledge-2026=2026-10-01,ipledge-2023=2023-10-01",
     {"ipledge-2026": date(2026, 10, 1), "ipledge-2023": date(2023, 10, 1)}),
    (" ipledge-2026 = 2026-10-01 , ipledge-2023=2023-11-01, ",
     {"ipledge-2026": date(2026, 10, 1), "ipledge-2023": date(2023, 11, 1)}),
    ("eu-ppp-2018=2019-01-01", {"eu-ppp-2018": date(2019, 1, 1)}),
])
def test_policy_effective_is_read(value, expected):
    settings = load_settings(environ={**BASE, "PHARMSAFE_POLICY_EFFECTIVE": value})
    assert settings["POLICY_EFFECTIVE"] == expected


@pytest.mark.parametrize(("value", "needle"), [
    ("ipledge-2099=2026-10-01", "ipledge-2099"),  # an unknown version
    ("ipledge-2026=2026-02-30", "2026-02-30"),  # no such day
    ("ipledge-2026=2026/10/01", "2026/10/01"),
    ("ipledge-2026=20261001", "20261001"),
    ("ipledge-2026=1 October 2026", "ipledge-2026"),
    ("ipledge-2026=", "ipledge-2026"),
    ("ipledge-2026", "ipledge-2026"),
    ("=2026-10-01", "=2026-10-01"),
    ("ipledge-2026=2026-10-01;ipledge-2023=2023-10-01", "ipledge-2026"),
    ("ipledge-2026=2026-10-01,ipledge-2026=2026-11-01", "more than once"),
    ("ipledge-2026=2023-10-01", "ipledge-2026"),  # the same day as ipledge-2023
    ("ipledge-2021=2024-01-01", "ipledge-2023"),  # after ipledge-2023: ipledge-2023 would come first
])
def test_bad_policy_effective_stops_start_up(value, needle):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={**BASE, "PHARMSAFE_POLICY_EFFECTIVE": value})
    message = str(caught.value)
    assert message.startswith("PHARMSAFE_POLICY_EFFECTIVE ") and needle in message, message
    assert message.endswith(".") and "\n" not in message


def test_policy_effective_from_a_configuration_file(tmp_path):
    cfg = tmp_path / "site.py"
    cfg.write_text('import datetime\nPOLICY_EFFECTIVE = {"ipledge-2026": datetime.date(2026, 10, 1), '
                   '"ipledge-2023": "2023-10-02"}\n')
    settings = load_settings(environ={**BASE, "PHARMSAFE_CONFIG": str(cfg)})
    assert settings["POLICY_EFFECTIVE"] == {"ipledge-2026": date(2026, 10, 1), "ipledge-2023": date(2023, 10, 2)}
    # Checked settings can be checked again (an app built from another app's settings).
    assert load_settings(settings, environ=BASE)["POLICY_EFFECTIVE"] == settings["POLICY_EFFECTIVE"]


def test_the_effective_set_reaches_the_services():
    settings = load_settings(environ={**BASE, "PHARMSAFE_POLICY_EFFECTIVE": "ipledge-2026=2026-10-01"})
    config = ProgramConfig.from_settings(settings)
    assert config.policies["ipledge-2026"].effective_from == date(2026, 10, 1)
    assert config.policies["ipledge-2026"].version == "2026-08-08"
    assert config.policies["ipledge-2023"] == POLICIES["ipledge-2023"]
    assert config.effective_sources == {"ipledge-2026": "PHARMSAFE_POLICY_EFFECTIVE", "ipledge-2023": "shipped",
                                        "ipledge-2021": "shipped", "eu-ppp-2018": "shipped"}
    assert config.policy_on(date(2026, 9, 30)).name == "ipledge-2023"
    assert config.policy_on(date(2026, 10, 1)).name == "ipledge-2026"
    # The shipped set is left as it was.
    assert POLICIES["ipledge-2026"].effective_from == date(2026, 8, 8)
    shipped = ProgramConfig.from_settings(load_settings(environ=BASE))
    assert dict(shipped.policies) == POLICIES and set(shipped.effective_sources.values()) == {"shipped"}


def test_a_bad_policy_data_file_stops_start_up_with_its_sentence(monkeypatch):
    import sys

    from pharmsafe.gates.policies import PolicyDataError

    # As if the policies package failed to load: the sentence of its loader reaches the operator.
    monkeypatch.delitem(sys.modules, "pharmsafe.gates.policies")

    class Broken:
        def find_spec(self, name, path=None, target=None):
            if name == "pharmsafe.gates.policies":
                raise PolicyDataError("Policy data file x.json: unknown parameter 'y'.", file="x.json", parameter="y")
            return None

    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    with pytest.raises(ConfigError, match="x.json: unknown parameter 'y'"):
        load_settings(environ=BASE)


@pytest.mark.parametrize("config_file", ["config/development.py", "config/testing.py"])
def test_production_refuses_a_secret_key_shipped_in_the_repository(config_file):
    """PHARMSAFE_ENV=production with PHARMSAFE_CONFIG pointing at a shipped file (or its key given
    again by hand) stops start-up: anyone could forge an admin session cookie with that key."""
    with pytest.raises(ConfigError, match="shipped in the repository"):
        load_settings(environ={"PHARMSAFE_ENV": "production", "PHARMSAFE_CONFIG": config_file})
    from pharmsafe.config import PACKAGE_DIR, _module_settings

    shipped = _module_settings(PACKAGE_DIR / config_file)["SECRET_KEY"]
    with pytest.raises(ConfigError, match="shipped in the repository"):
        load_settings(environ={"PHARMSAFE_ENV": "production", "PHARMSAFE_SECRET_KEY": shipped})
    # The same files still start outside production.
    assert load_settings(environ={"PHARMSAFE_ENV": "development", "PHARMSAFE_CONFIG": config_file})["SECRET_KEY"] == shipped


def test_production_hashes_passwords_at_full_cost():
    """The tests' cheap argon2 profile is refused in production; production's is argon2-cffi's
    default (RFC 9106's second recommendation), above OWASP's minimum."""
    from argon2 import PasswordHasher
    from argon2.profiles import RFC_9106_LOW_MEMORY

    from pharmsafe.runtime import Runtime
    from pharmsafe.services.passwords import PRODUCTION, PasswordHashing

    production = {"PHARMSAFE_ENV": "production", "PHARMSAFE_SECRET_KEY": "k" * 32}
    with pytest.raises(ConfigError, match="PHARMSAFE_PASSWORD_HASHING=fast is for the test suite"):
        load_settings(environ={**production, "PHARMSAFE_PASSWORD_HASHING": "fast"})
    with pytest.raises(ConfigError, match="PHARMSAFE_PASSWORD_HASHING must be"):
        load_settings(environ={**BASE, "PHARMSAFE_PASSWORD_HASHING": "md5"})
    settings = load_settings(environ=production)
    assert settings["PASSWORD_HASHING"] == "argon2id"
    runtime = Runtime.build(dict(settings, DATABASE_URL="sqlite://"))
    assert runtime.passwords is PRODUCTION
    default = PasswordHasher()
    assert PRODUCTION == PasswordHashing(default.time_cost, default.memory_cost, default.parallelism)
    assert (PRODUCTION.time_cost, PRODUCTION.memory_cost, PRODUCTION.parallelism) == (
        RFC_9106_LOW_MEMORY.time_cost, RFC_9106_LOW_MEMORY.memory_cost, RFC_9106_LOW_MEMORY.parallelism) == (3, 65536, 4)
    # A hash says how it was made: a production hash carries m=65536,t=3,p=4.
    assert "$m=65536,t=3,p=4$" in PRODUCTION.hash("a passphrase")
    runtime.dispose()


def test_no_password_is_hashed_at_import():
    import subprocess
    import sys

    # A fresh interpreter imports everything the command and the app need: no hasher is built, nothing hashed.
    code = ("import pharmsafe, pharmsafe.cli, pharmsafe.demo, pharmsafe.services.users, pharmsafe.services.signin\n"
            "import pharmsafe.services.passwords as p\n"
            "assert p._dummy_hash.cache_info().currsize == 0 and p._hasher.cache_info().currsize == 0\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("url,says", [
    ("postgresql+pg8000://pharmsafe@db.internal/pharmsafe", "needs the database driver pg8000"),
    ("mysql+nosuchdriver://x@y/z", "not a database URL"),
    ("not a url", "not a database URL"),
])
def test_a_database_url_without_its_driver_stops_start_up_with_a_sentence(url, says):
    with pytest.raises(ConfigError, match=says):
        load_settings(environ={**BASE, "PHARMSAFE_DATABASE_URL": url})
