"""Served FHIR read from outside PharmSafe: a fresh virtual environment holding fhir.resources alone
(the version constraints.txt pins, nothing of the project), where a small script validates each
resource with the R4B model its resourceType names and exits non-zero listing the ones refused.

    python = outside_python(tmp_path)              # once; the environment can serve many checks
    result = validate_outside(tmp_path, resources, python=python)
    assert result.validated == len(resources), result.output

pip installs from the package index as configured for it (PIP_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX
and the rest are passed through, for a machine that installs from a local wheel folder)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
REQUIREMENT = "fhir.resources>=8,<9"

# Run with `python -I` in a folder outside the checkout: no PYTHONPATH, no user site, not the
# current directory; only what the environment itself holds.
VALIDATE = r'''
import importlib.util
import json
import sys
from pathlib import Path

if importlib.util.find_spec("pharmsafe") is not None:
    sys.exit("pharmsafe is importable in this environment: this is no outside check")

import fhir.resources
from fhir.resources.R4B import get_fhir_model_class

validated, failures = 0, []
for path in sorted(Path(sys.argv[1]).glob("*.json")):
    text = path.read_text(encoding="utf-8")
    try:
        resource_type = json.loads(text)["resourceType"]
        model = get_fhir_model_class(resource_type)
        parsed = model.model_validate_json(text)
        if parsed.get_resource_type() != resource_type:
            raise ValueError(f"read as {parsed.get_resource_type()}")
    except Exception as exc:  # every refusal is listed, whatever raised it
        failures.append(f"{path.name}: {type(exc).__name__}: {exc}")
        continue
    validated += 1
print(f"fhir.resources {fhir.resources.__version__} from {Path(fhir.resources.__file__).parent}")
print(f"validated {validated}")
for failure in failures:
    print(f"FAILED {failure}")
sys.exit(1 if failures else 0)
'''


@dataclass
class Outside:
    returncode: int
    validated: int
    version: str
    location: str
    failures: list[str]
    output: str


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("PHARMSAFE_") and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}


def outside_python(root: Path) -> Path:
    """The interpreter of a virtual environment in `root`/outside-venv with only fhir.resources
    (and what it needs) installed, under constraints.txt; made on the first call, reused after."""
    env_dir = root / "outside-venv"
    python = env_dir / "bin" / "python"
    marker = env_dir / ".fhir-resources-installed"
    if marker.is_file():
        return python
    venv.create(env_dir, with_pip=True, clear=True)
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             "-c", str(CHECKOUT / "constraints.txt"), REQUIREMENT],
                            capture_output=True, text=True, timeout=600, env=_env(), cwd=str(root))
    assert result.returncode == 0, f"pip install {REQUIREMENT}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    marker.write_text(REQUIREMENT)
    return python


def write_resources(folder: Path, resources: list[dict]) -> list[Path]:
    """One file a resource, named by its position and type, as served (JSON, UTF-8)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, resource in enumerate(resources):
        name = re.sub(r"[^A-Za-z0-9]", "", str(resource.get("resourceType", "unknown"))) or "unknown"
        path = folder / f"{n:04d}-{name}.json"
        path.write_text(json.dumps(resource, ensure_ascii=False), encoding="utf-8")
        paths.append(path)
    return paths


def validate_outside(tmp_path: Path, resources: list[dict], *, python: Path | None = None) -> Outside:
    """Write `resources` under `tmp_path` and validate each in the outside environment (made in
    `tmp_path` when `python` is not given)."""
    python = python or outside_python(tmp_path)
    folder = tmp_path / "outside-resources"
    write_resources(folder, resources)
    script = tmp_path / "validate_r4b.py"
    script.write_text(VALIDATE)
    result = subprocess.run([str(python), "-I", str(script), str(folder)], capture_output=True, text=True,
                            timeout=600, env=_env(), cwd=str(tmp_path))
    output = result.stdout + result.stderr
    counted = re.search(r"^validated (\d+)$", result.stdout, re.M)
    found = re.search(r"^fhir\.resources (\S+) from (.+)$", result.stdout, re.M)
    return Outside(returncode=result.returncode, validated=int(counted.group(1)) if counted else 0,
                   version=found.group(1) if found else "", location=found.group(2) if found else "",
                   failures=[line[len("FAILED "):] for line in result.stdout.splitlines()
                             if line.startswith("FAILED ")],
                   output=output)
