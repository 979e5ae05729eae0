#!/usr/bin/env bash
# The README's curl walk-through as one script: run it against `make run` (demo data loaded).
set -euo pipefail
API=${API:-http://127.0.0.1:5000/api/v1}
CREDS=${CREDS:-instance/demo-credentials.txt}
ADMIN=$(sed -n 's/^admin .*api_token=//p' "$CREDS")
day() { TZ=America/New_York date -d "$1 days" +%F; }   # day -2 -> two days ago, in the policy's zone
j() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
call() {                                             # call TOKEN METHOD PATH [JSON]
  curl -sS -X "$2" "$API$3" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' ${4:+-d "$4"}
}

N=$RANDOM$RANDOM
NPI=$(python3 -c "import random; b = '1' + ''.join(random.choice('0123456789') for _ in range(8)); s = 0
for i, c in enumerate(reversed('80840' + b)): d = int(c) * (2 if i % 2 == 0 else 1); s += d - 9 if d > 9 else d
print(b + str(-s % 10))")

# 1. An admin registers a pharmacy and a prescriber, and a login (API token) for each.
PHARMACY=$(call "$ADMIN" POST /pharmacies '{"name": "Main Street Pharmacy", "ncpdp_id": "'$((N % 9000000 + 1000000))'",
  "rems_registration_id": "RPH-42", "activated_until": "'"$(day 365)"'", "time_zone": "America/New_York"}' | j '["id"]')
PRESCRIBER=$(call "$ADMIN" POST /prescribers '{"npi": "'"$NPI"'", "first_name": "Ana", "last_name": "Silva",
  "license_state": "NY", "license_number": "NY-1", "license_expires_on": "'"$(day 365)"'",
  "rems_certified_until": "'"$(day 365)"'", "status": "active"}' | j '["id"]')
DOC=$(call "$ADMIN" POST /users '{"email": "ana.silva.'$N'@clinic.test", "role": "prescriber",
  "prescriber_id": '"$PRESCRIBER"', "issue_token": true}' | j '["api_token"]')
RPH=$(call "$ADMIN" POST /users '{"email": "counter.'$N'@mainstreet.test", "role": "pharmacist",
  "pharmacy_id": '"$PHARMACY"', "issue_token": true}' | j '["api_token"]')

# 2. The prescriber registers a patient who can get pregnant and records the evidence:
#    screening and confirmatory tests (at least 19 days apart), contraception, comprehension,
#    counseling, and the four required labs.
PATIENT=$(call "$DOC" POST /patients '{"first_name": "Mia", "last_name": "Park", "date_of_birth": "2002-03-14",
  "can_get_pregnant": true, "rems_patient_id": "IPL-77", "enrolled_on": "'"$(day -40)"'"}' | j '["id"]')
for d in -25 -1; do
  call "$DOC" POST /patients/$PATIENT/pregnancy-tests '{"specimen_collected_on": "'"$(day $d)"'",
    "result": "negative", "specimen": "serum", "setting": "medical", "clia_number": "05D1234567"}' > /dev/null
done
call "$DOC" POST /patients/$PATIENT/attestations '{"kind": "contraception", "attested_on": "'"$(day -1)"'",
  "methods": ["iud", "male_condom"]}' > /dev/null
for kind in comprehension counseling; do
  call "$DOC" POST /patients/$PATIENT/attestations '{"kind": "'$kind'", "attested_on": "'"$(day -1)"'"}' > /dev/null
done
for lab in 'ALT 22 U/L' 'AST 19 U/L' 'TRIGLYCERIDES 130 mg/dL' 'TOTAL_CHOLESTEROL 175 mg/dL'; do
  set -- $lab
  call "$DOC" POST /patients/$PATIENT/lab-results '{"test": "'$1'", "value": '$2', "unit": "'$3'",
    "collected_on": "'"$(day -3)"'"}' > /dev/null
done

# 3. The prescriber routes a prescription to the pharmacy.
RX=$(call "$DOC" POST /prescriptions '{"patient_id": '"$PATIENT"', "pharmacy_id": '"$PHARMACY"',
  "drug": "isotretinoin", "ndc": "0591-2434-15", "strength_mg": 20, "quantity": 60, "days_supply": 30,
  "refills": 0, "written_on": "'"$(day 0)"'"}' | j '["id"]')

# 4. The pharmacist evaluates it: every gate, an outcome, and an authorization with a deadline.
DECISION=$(call "$RPH" POST /prescriptions/$RX/evaluations)
echo "$DECISION" | python3 -c 'import sys, json; d = json.load(sys.stdin)
for g in d["gates"]: print("  %-19s %-15s %s" % (g["gate"], g["status"], g["code"]))
print(d["outcome"], "- dispense by", d["dispense_by"])'
AUTH=$(echo "$DECISION" | j '["authorization"]["id"]')

# 5. Dispense with the RMA number and its do-not-dispense-after date from the iPLEDGE site; a second
#    dispense is refused with 409.
call "$RPH" POST /authorizations/$AUTH/dispense '{"quantity": 60, "rma_number": "RMA-'$N'-1",
  "rma_do_not_dispense_after": "'$(day 2)'"}'; echo
curl -sS -o /dev/null -w 'second dispense: HTTP %{http_code}\n' -X POST "$API/authorizations/$AUTH/dispense" \
  -H "Authorization: Bearer $RPH" -H 'Content-Type: application/json' -d '{"quantity": 60, "rma_number": "RMA-'$N'-2", "rma_do_not_dispense_after": "'$(day 2)'"}'
