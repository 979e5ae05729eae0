"""Policy versions are data files (rulebook §2 "Versions and their dates"): what ships, and how a
file that cannot be used stops loading with one sentence naming the file and the parameter."""
from __future__ import annotations

import dataclasses
import json
import shutil
import tomllib
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from pharmsafe.gates import POLICIES, select_policy
from pharmsafe.gates.policies import PolicyDataError, load_policies, load_policy_file, parse_policy
from pharmsafe.gates.policy import LabLimits, Policy

SHIPPED = resources.files("pharmsafe.gates.policies")
PROJECT = Path(__file__).resolve().parent.parent

# The versions as they stood when they were Python code: the data files must load to exactly these.
EXPECTED = {
    "ipledge-2026": Policy(
        name="ipledge-2026", version="2026-08-08", program="ipledge", effective_from=date(2026, 8, 8),
        time_zone="America/New_York", ncgp_window_days=30, ncgp_counseling_once_within_days=30,
    ),
    "ipledge-2023": Policy(
        name="ipledge-2023", version="2023-10-01", program="ipledge", effective_from=date(2023, 10, 1),
        time_zone="America/New_York", ncgp_window_days=30, first_course_requires_clia=True,
        later_requires_clia=False, home_tests_allowed=True, missed_window_lockout_days=19,
        counseling_current_days=30, ncgp_counseling_once_within_days=None,
    ),
    "ipledge-2021": Policy(
        name="ipledge-2021", version="2021-12-13", program="ipledge", effective_from=date(2021, 12, 13),
        time_zone="America/New_York", ncgp_window_days=30, first_course_requires_clia=True,
        later_requires_clia=True, home_tests_allowed=False, missed_window_lockout_days=19,
        counseling_current_days=30, ncgp_counseling_once_within_days=None,
    ),
    "eu-ppp-2018": Policy(
        name="eu-ppp-2018", version="2018-03-23", program="eu-ppp", effective_from=date(2018, 3, 23),
        time_zone=None, cgp_window_from="written_on", cgp_window_days=7, ncgp_window_days=7,
        test_before_written_max_days=3, first_course_tests=1, first_course_requires_clia=False,
        later_requires_clia=False, home_tests_allowed=False, missed_window_lockout_days=None,
        contraception_rule="independent_or_hormonal_with_barrier", prescription_current_days=7,
        ncgp_counseling_once_within_days=None, patient_requires_rems_id=False,
        pharmacy_requires_activation=False, prescriber_requires_certification=False,
        prescriber_requires_npi=False, require_rma=False,
    ),
}

POLICY_FIELDS = [f.name for f in dataclasses.fields(Policy)]
LAB_FIELDS = [f.name for f in dataclasses.fields(LabLimits)]


def shipped_json(name: str) -> dict:
    return json.loads(SHIPPED.joinpath(f"{name}.json").read_text("utf-8"))


def test_the_shipped_files_are_the_versions():
    names = sorted(e.name for e in SHIPPED.iterdir() if e.name.endswith(".json"))
    assert names == ["eu-ppp-2018.json", "ipledge-2021.json", "ipledge-2023.json", "ipledge-2026.json"]
    assert load_policies() == POLICIES


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_loads_to_exactly_its_version(name):
    loaded = POLICIES[name]
    assert loaded == EXPECTED[name]
    # Same types too: a tuple, not a list; Decimals, not floats or strings.
    assert type(loaded.labs.required_tests) is tuple
    assert all(type(getattr(loaded.labs, f)) is Decimal for f in LAB_FIELDS if f.endswith(("_dl", "_uln")))
    assert type(loaded.effective_from) is date


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_shipped_file_states_every_parameter(name):
    """No default in code decides a shipped version: every parameter is written in its file."""
    data = shipped_json(name)
    assert [k for k in data if k != "notes"] == POLICY_FIELDS
    assert list(data["labs"]) == LAB_FIELDS
    assert isinstance(data["notes"], str) and data["notes"]


def test_the_wheel_ships_the_data_files():
    # tests/test_wheel.py builds and installs the wheel; this is the quick look at its declaration.
    with open(PROJECT / "pyproject.toml", "rb") as f:
        package_data = tomllib.load(f)["tool"]["setuptools"]["package-data"]
    assert "*.json" in package_data["pharmsafe.gates.policies"]


# --- a folder of one's own ----------------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path):
    """A copy of the shipped versions that a test may change."""
    for name in EXPECTED:
        (tmp_path / f"{name}.json").write_text(SHIPPED.joinpath(f"{name}.json").read_text("utf-8"), "utf-8")
    return tmp_path


def write(folder: Path, name: str, data, *, raw: str | None = None) -> Path:
    path = folder / f"{name}.json"
    path.write_text(raw if raw is not None else json.dumps(data, indent=2), "utf-8")
    return path


def edited(source: str, /, **changes) -> dict:
    """The shipped file of ``source`` with ``changes`` (``labs__x`` for the lab limit ``x``)."""
    data = shipped_json(source)
    for key, value in changes.items():
        if key.startswith("labs__"):
            data["labs"][key[len("labs__"):]] = value
        else:
            data[key] = value
    return data


def test_a_copy_of_the_shipped_folder_loads_alike(folder):
    assert load_policies(folder) == POLICIES
    assert load_policy_file(folder / "ipledge-2023.json") == POLICIES["ipledge-2023"]
    assert load_policy_file(str(folder / "ipledge-2023.json")) == POLICIES["ipledge-2023"]


def test_a_new_version_needs_only_a_file(folder):
    write(folder, "ipledge-2028", edited("ipledge-2026", name="ipledge-2028", version="2028-01-01",
                                         effective_from="2028-01-01", ncgp_window_days=14))
    policies = load_policies(folder)
    assert select_policy("ipledge", date(2027, 12, 31), policies=policies).name == "ipledge-2026"
    chosen = select_policy("ipledge", date(2028, 1, 1), policies=policies)
    assert (chosen.name, chosen.version, chosen.ncgp_window_days) == ("ipledge-2028", "2028-01-01", 14)


def test_only_the_required_parameters_are_required(folder):
    minimal = {"name": "mhra-2030", "version": "1", "program": "mhra", "effective_from": "2030-01-01",
               "time_zone": "Europe/London"}
    write(folder, "mhra-2030", minimal)
    policy = load_policies(folder)["mhra-2030"]
    assert policy == Policy(name="mhra-2030", version="1", program="mhra", effective_from=date(2030, 1, 1),
                            time_zone="Europe/London")


BAD_FILES = [
    # (file name, its content (dict) or raw text, the parameter the sentence names)
    ("ipledge-2026", edited("ipledge-2026", ncgp_windw_days=30), "ncgp_windw_days"),
    ("ipledge-2026", edited("ipledge-2026", labs__alt_warn=3), "labs.alt_warn"),
    ("ipledge-2026", {k: v for k, v in shipped_json("ipledge-2026").items() if k != "version"}, "version"),
    ("ipledge-2026", {k: v for k, v in shipped_json("ipledge-2026").items() if k != "time_zone"}, "time_zone"),
    ("ipledge-2026", edited("ipledge-2026", ncgp_window_days="30"), "ncgp_window_days"),
    ("ipledge-2026", edited("ipledge-2026", ncgp_window_days=30.0), "ncgp_window_days"),
    ("ipledge-2026", edited("ipledge-2026", ncgp_window_days=-1), "ncgp_window_days"),
    ("ipledge-2026", edited("ipledge-2026", max_days_supply=True), "max_days_supply"),
    ("ipledge-2026", edited("ipledge-2026", require_rma=1), "require_rma"),
    ("ipledge-2026", edited("ipledge-2026", require_rma="true"), "require_rma"),
    ("ipledge-2026", edited("ipledge-2026", missed_window_lockout_days="none"), "missed_window_lockout_days"),
    ("ipledge-2026", edited("ipledge-2026", effective_from="2026-02-30"), "effective_from"),
    ("ipledge-2026", edited("ipledge-2026", effective_from="2026/08/08"), "effective_from"),
    ("ipledge-2026", edited("ipledge-2026", effective_from="20260808"), "effective_from"),
    ("ipledge-2026", edited("ipledge-2026", effective_from=20260808), "effective_from"),
    ("ipledge-2026", edited("ipledge-2026", version=""), "version"),
    ("ipledge-2026", edited("ipledge-2026", version=2026), "version"),
    ("ipledge-2026", edited("ipledge-2026", name="ipledge-2027"), "name"),
    ("ipledge-2026", edited("ipledge-2026", time_zone="Atlantis/Capital"), "time_zone"),
    ("ipledge-2026", edited("ipledge-2026", contraception_rule="one_primary"), "contraception_rule"),
    ("ipledge-2026", edited("ipledge-2026", cgp_window_from="dispense"), "cgp_window_from"),
    ("ipledge-2026", edited("ipledge-2026", first_course_tests=3), "first_course_tests"),
    ("ipledge-2026", edited("ipledge-2026", labs=[]), "labs"),
    ("ipledge-2026", edited("ipledge-2026", labs__required_tests=["ALT", "GGT"]), "labs.required_tests"),
    ("ipledge-2026", edited("ipledge-2026", labs__required_tests=[]), "labs.required_tests"),
    ("ipledge-2026", edited("ipledge-2026", labs__required_tests="ALT"), "labs.required_tests"),
    ("ipledge-2026", edited("ipledge-2026", labs__triglycerides_warn_mg_dl="lots"), "labs.triglycerides_warn_mg_dl"),
    ("ipledge-2026", edited("ipledge-2026", labs__triglycerides_warn_mg_dl="NaN"), "labs.triglycerides_warn_mg_dl"),
    ("ipledge-2026", edited("ipledge-2026", labs__current_days="30"), "labs.current_days"),
    ("ipledge-2026", edited("ipledge-2026", notes=["a"]), "notes"),
    # The same parameter twice: JSON allows it, a policy does not.
    ("ipledge-2026", None, "require_rma"),
    # Two versions of one program on the same day.
    ("ipledge-2026", edited("ipledge-2026", effective_from="2023-10-01"), "effective_from"),
    # One program, two zone rules.
    ("ipledge-2026", edited("ipledge-2026", time_zone="America/Chicago"), "time_zone"),
]


@pytest.mark.parametrize(("name", "data", "parameter"), BAD_FILES,
                         ids=[f"{i}-{p}" for i, (_, _, p) in enumerate(BAD_FILES)])
def test_a_bad_file_stops_loading_naming_file_and_parameter(folder, name, data, parameter):
    if data is None:
        text = SHIPPED.joinpath(f"{name}.json").read_text("utf-8")
        raw = text.replace('"require_rma": true,', '"require_rma": true,\n  "require_rma": false,')
        assert raw != text
        write(folder, name, None, raw=raw)
    else:
        write(folder, name, data)
    with pytest.raises(PolicyDataError) as caught:
        load_policies(folder)
    message = str(caught.value)
    assert f"{name}.json" in message and f"'{parameter}'" in message, message
    assert caught.value.file == f"{name}.json" and caught.value.parameter == parameter
    assert message.endswith(".") and "\n" not in message and ". " not in message, message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("raw", "needle"), [
    ("{ not json", "not valid JSON"),
    ("[]", "one JSON object"),
    ("", "not valid JSON"),
])
def test_a_file_that_is_no_json_object_names_the_file(folder, raw, needle):
    write(folder, "ipledge-2026", None, raw=raw)
    with pytest.raises(PolicyDataError, match=needle) as caught:
        load_policies(folder)
    assert "ipledge-2026.json" in str(caught.value)


def test_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(PolicyDataError, match="no .json file"):
        load_policies(tmp_path)


def test_other_files_in_the_folder_are_not_versions(folder):
    (folder / "README.md").write_text("not a version\n")
    (folder / "ipledge-2026.json.orig").write_text("{")
    assert load_policies(folder) == POLICIES


def test_parse_policy_reads_decimals_exactly():
    data = edited("ipledge-2026", labs__transaminase_warn_x_uln=2.5, labs__total_cholesterol_warn_mg_dl=300)
    policy = parse_policy(json.dumps(data), "ipledge-2026.json")
    assert policy.labs.transaminase_warn_x_uln == Decimal("2.5")
    assert policy.labs.total_cholesterol_warn_mg_dl == Decimal("300")


def test_the_folder_is_read_afresh_on_every_load(folder):
    """Adding or removing a file is all it takes; files without the .json suffix are not versions."""
    (folder / "ipledge-2021.json").unlink()
    assert sorted(load_policies(folder)) == ["eu-ppp-2018", "ipledge-2023", "ipledge-2026"]
    shutil.copy(folder / "ipledge-2023.json", folder / "spare.txt")
    assert sorted(load_policies(folder)) == ["eu-ppp-2018", "ipledge-2023", "ipledge-2026"]
