"""What the FHIR facade costs: validating an inbound resource with the R4B models, a FHIR request
end to end beside the JSON API's, and whether the JSON API pays for fhir.resources at all.

    .venv/bin/python bench/fhir_bench.py                      # SQLite (a file in a temp dir)
    .venv/bin/python bench/fhir_bench.py --repeat 3 --requests 200   # a quick look

Three measurements, each printed as a table and as ratios from this run:

  validation  the inbound step of pharmsafe/fhir/inbound.py: `json.loads(parse_float=Decimal)`
              alone, then that and `model_validate` of the R4B model, for an Observation (a
              pregnancy test), a Parameters for $rems-etasu and a transaction Bundle of 12 entries
              (a patient, a practitioner, two pregnancy tests, four labs, three attestations and the
              prescription); microseconds per resource, the median of --repeat runs of --number;
  requests    through the Flask test client in this process, against a temporary SQLite database
              seeded as bench/http_bench.py seeds it (twice --prescriptions, each authorized), a
              pharmacist's Bearer token, cycling over --prescriptions of them: GET
              /api/v1/prescriptions/{id} (the JSON read), POST /fhir/R4/GuidanceResponse/$rems-etasu
              (the FHIR check: the Parameters validated, the evaluation-stage gates, one
              check.performed event, the Parameters answer); and over the other half, the same
              re-evaluation through both edges, POST /api/v1/prescriptions/{id}/evaluations and POST
              /fhir/R4/MedicationRequest/{id}/$evaluate (a prescription's detail lists its decisions,
              so the reads keep to prescriptions that are not re-evaluated); milliseconds per request, the median of
              --repeat rounds of --requests, the kinds taking turns within each round;
  import      in fresh interpreters: whether a process that serves only JSON API requests has
              fhir.resources (and pydantic) loaded, and what importing those modules costs in time
              and memory next to the rest of the application's start.

Nothing is asserted; the figures and what they are read against are in docs/benchmarks.md."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import http_bench  # noqa: E402  (database preparation, seeding, the server's environment)

BASE = "http://127.0.0.1:5000"  # PHARMSAFE_BASE_URL's default, which the bench leaves as it is
LOINC, SNOMED, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"
NPI = "http://hl7.org/fhir/sid/us-npi"
NCPDP = "http://terminology.hl7.org/CodeSystem/NCPDPProviderIdentificationNumber"
CLIA = "urn:oid:2.16.840.1.113883.4.7"
NDC = "http://hl7.org/fhir/sid/ndc"
REMS = f"{BASE}/fhir/sid/rems-patient-id"
ORDER = "urn:oid:2.16.840.1.113883.3.1.5"
EXT = f"{BASE}/fhir/StructureDefinition/"


# --- inbound resources (INTEROP.md §3, §4.2) ----------------------------------------------------

def pregnancy_test(rems_id: str, day: str, ident: str) -> dict:
    return {"resourceType": "Observation", "identifier": [{"system": ORDER, "value": ident}], "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "2118-8"}]},
            "subject": {"identifier": {"system": REMS, "value": rems_id}}, "effectiveDateTime": day,
            "performer": [{"identifier": {"system": CLIA, "value": "05D1234567"}}],
            "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "260385009"}]}}


def lab(rems_id: str, day: str, code: str, value: str, unit: str, ident: str) -> dict:
    return {"resourceType": "Observation", "identifier": [{"system": ORDER, "value": ident}], "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"identifier": {"system": REMS, "value": rems_id}}, "effectiveDateTime": day,
            "valueQuantity": {"value": Decimal(value), "unit": unit, "system": UCUM, "code": unit}}


def attestation(rems_id: str, npi: str, day: str, kind: str, ident: str, methods=()) -> dict:
    items = [{"linkId": "kind", "answer": [{"valueCoding": {"system": f"{BASE}/fhir/CodeSystem/attestation-kind",
                                                            "code": kind}}]},
             {"linkId": "attested-on", "answer": [{"valueDate": day}]}]
    if methods:
        items.append({"linkId": "methods", "answer": [
            {"valueCoding": {"system": f"{BASE}/fhir/CodeSystem/contraception-method", "code": m}} for m in methods]})
    items.append({"linkId": "confirmed", "answer": [{"valueBoolean": True}]})
    return {"resourceType": "QuestionnaireResponse", "identifier": {"system": ORDER, "value": ident},
            "questionnaire": f"{BASE}/fhir/Questionnaire/isotretinoin-attestation|1", "status": "completed",
            "subject": {"identifier": {"system": REMS, "value": rems_id}},
            "author": {"identifier": {"system": NPI, "value": npi}}, "authored": f"{day}T10:00:00-05:00",
            "item": items}


def medication_request(rems_id: str, npi: str, ncpdp: str, day: str) -> dict:
    return {"resourceType": "MedicationRequest", "identifier": [{"system": ORDER, "value": "rx-1"}],
            "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "197844"}]},
            "subject": {"identifier": {"system": REMS, "value": rems_id}}, "authoredOn": day,
            "requester": {"identifier": {"system": NPI, "value": npi}},
            "dispenseRequest": {
                "quantity": {"value": 60, "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
                             "code": "CAP"},
                "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"},
                "performer": {"identifier": {"system": NCPDP, "value": ncpdp}}}}


def etasu_parameters(rems_id: str, prescription_id: int) -> dict:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "patient", "resource": {"resourceType": "Patient",
                                         "identifier": [{"system": REMS, "value": rems_id}]}},
        {"name": "medication", "valueCodeableConcept": {"coding": [{"system": NDC, "code": "0591-2434-15"}]}},
        {"name": "prescription", "valueReference": {"reference": f"MedicationRequest/{prescription_id}"}}]}


def transaction_bundle(rems_id: str = "RT-1", npi: str = "1234567893", ncpdp: str = "7654321") -> dict:
    """12 entries, as a prescriber's system sends a course's first prescription (INTEROP.md §3.1)."""
    patient = {"resourceType": "Patient", "identifier": [{"system": REMS, "value": rems_id}],
               "name": [{"family": "Rivera", "given": ["Maya"]}], "birthDate": "2001-04-05",
               "extension": [{"url": EXT + "can-get-pregnant", "valueBoolean": True},
                             {"url": EXT + "rems-enrolled-on", "valueDate": "2026-09-27"}]}
    practitioner = {"resourceType": "Practitioner", "identifier": [{"system": NPI, "value": npi}],
                    "name": [{"family": "Lovelace", "given": ["Ada"]}]}
    resources = [
        pregnancy_test(rems_id, "2026-10-25", "hcg-screening"),
        pregnancy_test(rems_id, "2026-11-24T23:30:00-08:00", "hcg-confirmatory"),
        lab(rems_id, "2026-11-20", "1742-6", "25", "U/L", "alt"),
        lab(rems_id, "2026-11-20", "1920-8", "22", "U/L", "ast"),
        lab(rems_id, "2026-11-20", "2571-8", "150", "mg/dL", "tg"),
        lab(rems_id, "2026-11-20", "2093-3", "180", "mg/dL", "chol"),
        attestation(rems_id, npi, "2026-11-24", "contraception", "att-contra", ("iud", "male_condom")),
        attestation(rems_id, npi, "2026-11-24", "comprehension", "att-comp"),
        attestation(rems_id, npi, "2026-11-24", "counseling", "att-couns"),
        medication_request(rems_id, npi, ncpdp, "2026-11-25"),
    ]
    patient_url = "urn:uuid:00000000-0000-4000-8000-000000000000"
    for resource in resources:
        resource["subject"] = {"reference": patient_url}
    entries = [{"fullUrl": patient_url, "resource": patient,
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={REMS}|{rems_id}"}},
               {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001", "resource": practitioner,
                "request": {"method": "POST", "url": "Practitioner", "ifNoneExist": f"identifier={NPI}|{npi}"}}]
    entries += [{"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{n:012d}", "resource": r,
                 "request": {"method": "POST", "url": r["resourceType"]}} for n, r in enumerate(resources, start=2)]
    return {"resourceType": "Bundle", "type": "transaction",
            "identifier": {"system": ORDER, "value": "bundle-1"}, "entry": entries}


def dumps(resource: dict) -> str:
    return json.dumps(resource, default=str)  # Decimals written as their digits


# --- 1. validation -----------------------------------------------------------------------------

def per_call(fn, number: int, repeat: int) -> float:
    """Seconds per call: the median of `repeat` runs of `number` calls."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)


def measure_validation(args) -> list[dict]:
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.parameters import Parameters

    bundle = transaction_bundle()
    assert len(bundle["entry"]) == 12
    cases = [("Observation (pregnancy test)", Observation, pregnancy_test("R1", "2026-11-24", "hcg-1")),
             ("Parameters ($rems-etasu)", Parameters, etasu_parameters("R1", 1)),
             ("Bundle (transaction, 12 entries)", Bundle, bundle)]
    rows = []
    for name, model, resource in cases:
        text = dumps(resource)

        def parse(text=text):
            return json.loads(text, parse_float=Decimal)

        def parse_and_validate(text=text, model=model):
            model.model_validate(json.loads(text, parse_float=Decimal))

        parse_and_validate()  # the models' first use, and proof that the resource is valid
        number = max(1, args.number // (10 if model is Bundle else 1))
        loads = per_call(parse, number * 10, args.repeat)
        validated = per_call(parse_and_validate, number, args.repeat)
        rows.append({"resource": name, "bytes": len(text), "loads_us": loads * 1e6,
                     "validated_us": validated * 1e6, "ratio": validated / loads})
        print(f"  validated {name}", flush=True)
    return rows


# --- 2. requests -------------------------------------------------------------------------------

def measure_requests(url: str, args) -> tuple[list[dict], dict]:
    http_bench.prepare_database(url)
    os.environ.update(http_bench.pharmsafe_env(url))
    from pharmsafe import create_app

    app = create_app()
    started = time.perf_counter()
    token, seeded = http_bench.seed_authorized(app, 2 * args.prescriptions)
    print(f"  seeded {len(seeded):,} authorized prescriptions in {time.perf_counter() - started:.1f} s", flush=True)
    # The reads and checks go to the first half, whose prescriptions keep their one decision (a
    # prescription's detail lists its decisions); the re-evaluations to the second half.
    rx_ids, rx_evaluated = seeded[:args.prescriptions], seeded[args.prescriptions:]
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    fhir_headers = {**bearer, "Content-Type": "application/fhir+json"}
    # seed_authorized gives the n-th prescription's patient the REMS id R{n}.
    etasu_bodies = [dumps(etasu_parameters(f"R{n}", rx)) for n, rx in enumerate(rx_ids)]

    kinds = {
        "JSON GET /api/v1/prescriptions/{id}": (
            lambda n: client.get(f"/api/v1/prescriptions/{rx_ids[n]}", headers=bearer), 200),
        "FHIR POST /fhir/R4/GuidanceResponse/$rems-etasu": (
            lambda n: client.post("/fhir/R4/GuidanceResponse/$rems-etasu", data=etasu_bodies[n],
                                  headers=fhir_headers), 200),
        "JSON POST /api/v1/prescriptions/{id}/evaluations": (
            lambda n: client.post(f"/api/v1/prescriptions/{rx_evaluated[n]}/evaluations", headers=bearer), 201),
        "FHIR POST /fhir/R4/MedicationRequest/{id}/$evaluate": (
            lambda n: client.post(f"/fhir/R4/MedicationRequest/{rx_evaluated[n]}/$evaluate", headers=bearer), 201),
    }

    def run(kind: str, count: int) -> float:
        send, status = kinds[kind]
        start = time.perf_counter()
        for n in range(count):
            response = send(n % len(rx_ids))
            if response.status_code != status:
                raise SystemExit(f"{kind} answered {response.status_code}: {response.get_data(as_text=True)[:500]}")
        return (time.perf_counter() - start) / count

    first = client.post("/fhir/R4/GuidanceResponse/$rems-etasu", data=etasu_bodies[0], headers=fhir_headers)
    answer = first.get_json(force=True)
    check = {"status": first.status_code, "answer": answer["parameter"][0]["resource"]["status"]}
    if check["answer"] != "success":
        raise SystemExit(f"$rems-etasu on a seeded prescription answered {check}; the seed no longer fits")
    for kind in kinds:  # warm-up: statement caches, the connection pool, the models' first use
        run(kind, min(100, args.requests))
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    for round_no in range(args.repeat):
        order = list(kinds) if round_no % 2 == 0 else list(reversed(kinds))
        for kind in order:
            timings[kind].append(run(kind, args.requests))
        print(f"  round {round_no + 1}: " + ", ".join(f"{timings[k][-1] * 1000:.2f}" for k in kinds) + " ms",
              flush=True)
    rows = [{"request": kind, "ms": statistics.median(t) * 1000, "min_ms": min(t) * 1000, "max_ms": max(t) * 1000}
            for kind, t in timings.items()]
    return rows, {"token": token, "prescription_id": rx_ids[0]}


# --- 3. import ---------------------------------------------------------------------------------

JSON_ONLY = r"""
import json, resource, sys, time
start = time.perf_counter()
from pharmsafe import create_app
imported = time.perf_counter()
app = create_app()
built = time.perf_counter()
response = app.test_client().get(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
assert response.status_code == 200, response.status_code
done = time.perf_counter()
def count(*prefixes):
    return sum(1 for m in sys.modules if m.split(".")[0] in prefixes or m.startswith(prefixes))
fhir_models = sorted(m for m in sys.modules if m.startswith("fhir.resources.R4B."))
print(json.dumps({"import_s": imported - start, "build_s": built - imported, "request_s": done - built,
                  "fhir_resources": "fhir.resources" in sys.modules, "pydantic": "pydantic" in sys.modules,
                  "fhir_modules": count("fhir", "fhir_core"), "pydantic_modules": count("pydantic", "pydantic_core"),
                  "all_modules": len(sys.modules), "r4b_modules": fhir_models,
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# The fhir.resources modules that process had loaded, imported after what the JSON API's own stack
# imports anyway: the memory they add (resident set, from /proc).
FHIR_ALONE = r"""
import importlib, json, sys
import flask, sqlalchemy, sqlalchemy.orm, marshmallow, apispec, werkzeug, jinja2, alembic  # noqa
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
before, modules = rss_mib(), len(sys.modules)
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
print(json.dumps({"modules": len(sys.modules) - modules, "rss_growth_mib": rss_mib() - before}))
"""

FHIR_ROOTS = ("fhir", "fhir_core")


def fhir_share_of_import(stderr: str) -> tuple[float, float]:
    """From `python -X importtime`: microseconds under the first import of fhir.resources or
    fhir_core (pydantic with them, when nothing imported it before), and those of `pharmsafe`."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _, cumulative, field = line[len("import time:"):].split("|")
        name = field.strip()
        rows.append(((len(field) - len(field.lstrip())) // 2, name, int(cumulative)))
    fhir_us = pharmsafe_us = 0.0
    stack: list[tuple[int, bool]] = []  # (depth, inside a fhir import); rows are in post-order
    for depth, name, cumulative in reversed(rows):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        inside = bool(stack) and stack[-1][1]
        is_fhir = name.split(".")[0] in FHIR_ROOTS
        if is_fhir and not inside:
            fhir_us += cumulative
        if name == "pharmsafe":
            pharmsafe_us = cumulative
        stack.append((depth, inside or is_fhir))
    return fhir_us, pharmsafe_us


def measure_import(url: str, token: str, prescription_id: int, runs: int) -> dict:
    env = http_bench.pharmsafe_env(url)
    env["PYTHONPATH"] = str(ROOT)

    def fresh(code: str, *argv: str, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        out = subprocess.run([sys.executable, *flags, "-c", code, *argv], env=env, cwd=str(ROOT),
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit(f"a fresh interpreter failed:\n{out.stderr[-3000:]}")
        return out

    def last_json(out: subprocess.CompletedProcess) -> dict:
        return json.loads(out.stdout.strip().splitlines()[-1])

    json_runs = [last_json(fresh(JSON_ONLY, f"/api/v1/prescriptions/{prescription_id}", token)) for _ in range(runs)]
    traced = [fhir_share_of_import(fresh("from pharmsafe import create_app", flags=("-X", "importtime")).stderr)
              for _ in range(runs)]
    models = json_runs[0]["r4b_modules"]
    alone = [last_json(fresh(FHIR_ALONE, json.dumps(models))) for _ in range(runs)] if models else []
    return {
        "fhir_resources": json_runs[0]["fhir_resources"], "pydantic": json_runs[0]["pydantic"],
        "fhir_modules": json_runs[0]["fhir_modules"], "pydantic_modules": json_runs[0]["pydantic_modules"],
        "all_modules": json_runs[0]["all_modules"], "r4b_modules": models,
        "app_import_ms": statistics.median(r["import_s"] for r in json_runs) * 1000,
        "app_build_ms": statistics.median(r["build_s"] for r in json_runs) * 1000,
        "first_request_ms": statistics.median(r["request_s"] for r in json_runs) * 1000,
        "maxrss_mib": statistics.median(r["maxrss_mib"] for r in json_runs),
        "traced_fhir_ms": statistics.median(f for f, _ in traced) / 1000,
        "traced_pharmsafe_ms": statistics.median(p for _, p in traced) / 1000,
        "traced_share": statistics.median(f / p for f, p in traced if p),
        "fhir_import_modules": alone[0]["modules"] if alone else 0,
        "fhir_rss_mib": statistics.median(r["rss_growth_mib"] for r in alone) if alone else 0.0,
    }


# --- the report --------------------------------------------------------------------------------

def print_report(validation: list[dict], requests: list[dict], imported: dict, args) -> None:
    print(f"\n1. Inbound validation: microseconds per resource, median of {args.repeat} runs")
    print(f"{'resource':<34} {'bytes':>6} {'json.loads':>11} {'+ model_validate':>17} {'x json.loads':>13}")
    for r in validation:
        print(f"{r['resource']:<34} {r['bytes']:>6,} {r['loads_us']:>11.1f} {r['validated_us']:>17.1f} "
              f"{r['ratio']:>13.1f}")

    by = {r["request"]: r for r in requests}
    print(f"\n2. Requests through the Flask test client (SQLite, 2 x {args.prescriptions} seeded prescriptions): "
          f"ms per request, median of {args.repeat} rounds of {args.requests}")
    print(f"{'request':<56} {'ms':>7} {'(min-max)':>15} {'x JSON GET':>11}")
    json_get = requests[0]["ms"]
    for r in requests:
        spread = f"({r['min_ms']:.2f}-{r['max_ms']:.2f})"
        print(f"{r['request']:<56} {r['ms']:>7.2f} {spread:>15} {r['ms'] / json_get:>11.2f}")
    etasu = by["FHIR POST /fhir/R4/GuidanceResponse/$rems-etasu"]["ms"]
    params = next(v for v in validation if v["resource"].startswith("Parameters"))
    evaluate_json = by["JSON POST /api/v1/prescriptions/{id}/evaluations"]["ms"]
    evaluate_fhir = by["FHIR POST /fhir/R4/MedicationRequest/{id}/$evaluate"]["ms"]

    print("\n3. The JSON API's process (fresh interpreters, median of "
          f"{args.import_runs}): create_app() and one GET /api/v1/prescriptions/{{id}}")
    print(f"  fhir.resources loaded: {'yes' if imported['fhir_resources'] else 'no'} "
          f"({imported['fhir_modules']} fhir/fhir_core modules, {imported['pydantic_modules']} pydantic ones, "
          f"of {imported['all_modules']}; R4B models: "
          f"{', '.join(m.rsplit('.', 1)[1] for m in imported['r4b_modules']) or 'none'})")
    print(f"  import pharmsafe {imported['app_import_ms']:.0f} ms, create_app() {imported['app_build_ms']:.0f} ms, "
          f"first request {imported['first_request_ms']:.0f} ms, peak RSS {imported['maxrss_mib']:.1f} MiB")
    if imported["fhir_resources"]:
        print(f"  under -X importtime, the imports of fhir.resources and fhir_core (pydantic with them): "
              f"{imported['traced_fhir_ms']:.0f} of the {imported['traced_pharmsafe_ms']:.0f} ms of import "
              f"pharmsafe ({imported['traced_share']:.0%})")
        print(f"  the same R4B modules imported after the JSON API's own stack: "
              f"+{imported['fhir_import_modules']} modules, +{imported['fhir_rss_mib']:.1f} MiB resident")

    print("\nRatios (this run):")
    for r in validation:
        print(f"  {r['resource']}: validation {r['ratio']:.1f}x json.loads alone")
    print(f"  $rems-etasu / JSON GET prescription: {etasu / json_get:.2f}x "
          f"(its Parameters validation is {params['validated_us'] / 1000 / etasu:.1%} of it)")
    print(f"  FHIR $evaluate / JSON evaluations: {evaluate_fhir / evaluate_json:.2f}x (the same decision)")
    paid = (f"yes, {imported['traced_share']:.0%} of import pharmsafe" if imported["fhir_resources"] else "no")
    print(f"  JSON API pays the fhir.resources import: {paid}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prescriptions", type=int, default=300, help="prescriptions per half of the seed (default 300)")
    parser.add_argument("--requests", type=int, default=1000, help="requests of each kind per round (default 1000)")
    parser.add_argument("--number", type=int, default=2000,
                        help="validations per run (a tenth for the Bundle; json.loads alone ten times as many; "
                             "default 2000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs and rounds; the median is printed (default 5)")
    parser.add_argument("--import-runs", type=int, default=5, help="fresh interpreters for the import (default 5)")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="pharmsafe-fhir-bench-") as workdir:
        url = f"sqlite:///{workdir}/fhir.db"
        print("validation:", flush=True)
        validation = measure_validation(args)
        print("requests:", flush=True)
        requests, seeded = measure_requests(url, args)
        print("import:", flush=True)
        imported = measure_import(url, seeded["token"], seeded["prescription_id"], args.import_runs)
    print_report(validation, requests, imported, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"validation": validation, "requests": requests,
                                               "import": imported}, indent=2))


if __name__ == "__main__":
    main()
