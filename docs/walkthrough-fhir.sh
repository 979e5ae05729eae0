#!/usr/bin/env bash
# A prescription authorized and dispensed entirely through FHIR R4 (docs/fhir.md): one transaction
# Bundle registers the patient with her evidence and the prescription, $rems-etasu checks it,
# $evaluate authorizes it, and the dispense (made through the JSON API, the pharmacy's own system)
# reads back as a MedicationDispense. Run it against `make run` (demo data loaded).
# OUT=dir keeps every FHIR answer there as JSON, one file each.
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:5000}
CREDS=${CREDS:-instance/demo-credentials.txt}
OUT=${OUT:-}
ADMIN=$(sed -n 's/^admin .*api_token=//p' "$CREDS" | head -n 1)
day() { TZ=America/New_York date -d "$1 days" +%F; }   # day -2 -> two days ago, in the policy's zone
j() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
api() {                                              # api TOKEN METHOD PATH [JSON]
  curl -sS -f -X "$2" "$BASE/api/v1$3" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' ${4:+-d "$4"}
}
fhir() {                                             # fhir NAME TOKEN METHOD PATH [JSON]: the answer, kept as NAME
  local body
  body=$(curl -sS -X "$3" "$BASE/fhir/R4$4" -H "Authorization: Bearer $2" \
    -H 'Content-Type: application/fhir+json' ${5:+-d "$5"})
  if [ -n "$OUT" ]; then mkdir -p "$OUT" && printf '%s' "$body" > "$OUT/$1.json"; fi
  printf '%s' "$body"
}

N=$RANDOM$RANDOM
NPI=$(python3 -c "import random; b = '1' + ''.join(random.choice('0123456789') for _ in range(8)); s = 0
for i, c in enumerate(reversed('80840' + b)): d = int(c) * (2 if i % 2 == 0 else 1); s += d - 9 if d > 9 else d
print(b + str(-s % 10))")
NCPDP=$((N % 9000000 + 1000000))
REMS_ID="IPL-F$N"

# 1. An admin registers a pharmacy, a prescriber and their logins (the registry is the JSON API's).
PHARMACY=$(api "$ADMIN" POST /pharmacies '{"name": "Harbor Pharmacy", "ncpdp_id": "'$NCPDP'",
  "rems_registration_id": "RPH-7", "activated_until": "'"$(day 365)"'", "time_zone": "America/New_York"}' | j '["id"]')
PRESCRIBER=$(api "$ADMIN" POST /prescribers '{"npi": "'"$NPI"'", "first_name": "Lena", "last_name": "Ortiz",
  "license_state": "NY", "license_number": "NY-7", "license_expires_on": "'"$(day 365)"'",
  "rems_certified_until": "'"$(day 365)"'", "status": "active"}' | j '["id"]')
DOC=$(api "$ADMIN" POST /users '{"email": "lena.ortiz.'$N'@clinic.test", "role": "prescriber",
  "prescriber_id": '"$PRESCRIBER"', "issue_token": true}' | j '["api_token"]')
RPH=$(api "$ADMIN" POST /users '{"email": "counter.'$N'@harbor.test", "role": "pharmacist",
  "pharmacy_id": '"$PHARMACY"', "issue_token": true}' | j '["api_token"]')

# 2. The prescriber's EHR sends one transaction: the patient (created from her REMS id), screening
#    and confirmatory pregnancy tests, four labs dated by their report, three attestations on the
#    served form, and the prescription. All or nothing.
BUNDLE=$(python3 - "$BASE" "$REMS_ID" "$NPI" "$NCPDP" "$(day -60)" "$(day -25)" "$(day -1)" "$(day -3)" "$(day 0)" <<'EOF'
import json, sys
base, rems, npi, ncpdp, enrolled, screening, confirmatory, labs_day, today = sys.argv[1:]
ext, order = f"{base}/fhir/StructureDefinition/", "urn:oid:2.16.840.1.113883.3.1.5"
loinc, ucum = "http://loinc.org", "http://unitsofmeasure.org"
patient = {"reference": "urn:uuid:11111111-0000-4000-8000-000000000000"}
lab = {"reference": "urn:uuid:11111111-0000-4000-8000-000000000001"}
author = {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": npi}}
entries = [
    ("Patient", {"resourceType": "Patient", "identifier": [{"system": f"{base}/fhir/sid/rems-patient-id", "value": rems}],
                 "name": [{"family": "Reyes", "given": ["Noor"]}], "birthDate": "2003-06-02",
                 "extension": [{"url": ext + "can-get-pregnant", "valueBoolean": True},
                               {"url": ext + "rems-enrolled-on", "valueDate": enrolled}]},
     f"identifier={base}/fhir/sid/rems-patient-id|{rems}"),
    ("Organization", {"resourceType": "Organization", "name": "Harbor Lab",
                      "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.7", "value": "05D1234567"}]},
     "identifier=urn:oid:2.16.840.1.113883.4.7|05D1234567"),
]
for ident, when in (("hcg-screening", screening), ("hcg-confirmatory", confirmatory)):
    entries.append(("Observation", {"resourceType": "Observation", "identifier": [{"system": order, "value": ident}],
                    "status": "final", "code": {"coding": [{"system": loinc, "code": "2118-8"}]}, "subject": patient,
                    "effectiveDateTime": when, "performer": [lab],
                    "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "260385009"}]}},
                    None))
labs = []
for ident, code, value, unit in (("alt", "1742-6", 22, "U/L"), ("ast", "1920-8", 19, "U/L"),
                                 ("tg", "2571-8", 130, "mg/dL"), ("chol", "2093-3", 175, "mg/dL")):
    labs.append(len(entries))
    entries.append(("Observation", {"resourceType": "Observation", "identifier": [{"system": order, "value": ident}],
                    "status": "final", "code": {"coding": [{"system": loinc, "code": code}]}, "subject": patient,
                    "valueQuantity": {"value": value, "unit": unit, "system": ucum, "code": unit}}, None))
entries.append(("DiagnosticReport", {"resourceType": "DiagnosticReport", "status": "final",
                "code": {"coding": [{"system": loinc, "code": "24331-1"}]}, "subject": patient,
                "effectiveDateTime": labs_day,
                "result": [{"reference": f"urn:uuid:11111111-0000-4000-8000-{n:012d}"} for n in labs]}, None))
form = f"{base}/fhir/Questionnaire/isotretinoin-attestation|1"
for ident, kind, methods in (("att-contraception", "contraception", ["iud", "male_condom"]),
                             ("att-comprehension", "comprehension", []), ("att-counseling", "counseling", [])):
    items = [{"linkId": "kind", "answer": [{"valueCoding": {"system": f"{base}/fhir/CodeSystem/attestation-kind",
                                                            "code": kind}}]},
             {"linkId": "attested-on", "answer": [{"valueDate": confirmatory}]}]
    if methods:
        items.append({"linkId": "methods", "answer": [{"valueCoding": {
            "system": f"{base}/fhir/CodeSystem/contraception-method", "code": m}} for m in methods]})
    items.append({"linkId": "confirmed", "answer": [{"valueBoolean": True}]})
    entries.append(("QuestionnaireResponse", {"resourceType": "QuestionnaireResponse",
                    "identifier": {"system": order, "value": ident}, "questionnaire": form, "status": "completed",
                    "subject": patient, "author": author, "item": items}, None))
entries.append(("MedicationRequest", {"resourceType": "MedicationRequest", "identifier": [{"system": order, "value": "rx-1"}],
                "status": "active", "intent": "order", "subject": patient, "authoredOn": today, "requester": author,
                "medicationCodeableConcept": {"coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197844"},
                    {"system": "http://hl7.org/fhir/sid/ndc", "code": "0591-2434-15"}]},
                "dispenseRequest": {
                    "quantity": {"value": 60, "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
                                 "code": "CAP"},
                    "expectedSupplyDuration": {"value": 30, "unit": "days", "system": ucum, "code": "d"},
                    "performer": {"identifier": {
                        "system": "http://terminology.hl7.org/CodeSystem/NCPDPProviderIdentificationNumber",
                        "value": ncpdp}}}}, None))
bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
for n, (kind, resource, if_none_exist) in enumerate(entries):
    request = {"method": "POST", "url": kind, **({"ifNoneExist": if_none_exist} if if_none_exist else {})}
    bundle["entry"].append({"fullUrl": f"urn:uuid:11111111-0000-4000-8000-{n:012d}", "resource": resource,
                            "request": request})
print(json.dumps(bundle))
EOF
)
ANSWER=$(fhir transaction-response "$DOC" POST "" "$BUNDLE")
echo "$ANSWER" | python3 -c 'import sys, json
for e in json.load(sys.stdin)["entry"]: print("  %-12s %s" % (e["response"]["status"], e["response"].get("location", "")))'
RX=$(echo "$ANSWER" | python3 -c 'import sys, json
print([e["response"]["location"] for e in json.load(sys.stdin)["entry"] if "MedicationRequest/" in e["response"].get("location", "")][0].split("/")[1])')

# 3. Is it clear to dispense? $rems-etasu answers without recording a decision.
fhir rems-etasu "$RPH" POST '/GuidanceResponse/$rems-etasu' '{"resourceType": "Parameters", "parameter": [
  {"name": "patient", "resource": {"resourceType": "Patient", "identifier": [
    {"system": "'"$BASE"'/fhir/sid/rems-patient-id", "value": "'"$REMS_ID"'"}]}}]}' \
  | j '["parameter"][0]["resource"]["status"]'

# 4. The pharmacist evaluates it: the decision, as a GuidanceResponse, with its authorization.
GUIDANCE=$(fhir guidance-response "$RPH" POST "/MedicationRequest/$RX/\$evaluate")
echo "$GUIDANCE" | j '["status"]'
DECISION=$(echo "$GUIDANCE" | j '["id"]')
fhir guidance-response-read "$RPH" GET "/GuidanceResponse/$DECISION" > /dev/null
AUTH=$(echo "$GUIDANCE" | python3 -c 'import sys, json
params = json.load(sys.stdin)["contained"][0]["parameter"]
print(next(p["valueString"] for p in params if p["name"] == "authorization"))')

# 5. The dispense (the pharmacy system's own JSON API call), then read back through FHIR.
DISPENSE=$(api "$RPH" POST /authorizations/$AUTH/dispense '{"quantity": 60, "rma_number": "RMA-F'$N'",
  "rma_do_not_dispense_after": "'"$(day 7)"'"}' | j '["id"]')
fhir medication-dispense "$RPH" GET "/MedicationDispense/dispense-$DISPENSE" | j '["status"]'
fhir medication-dispense-search "$RPH" GET "/MedicationDispense?patient:identifier=$BASE/fhir/sid/rems-patient-id|$REMS_ID" \
  | j '["entry"][0]["resource"]["id"]'
