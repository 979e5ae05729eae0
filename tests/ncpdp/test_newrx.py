"""NCPDP SCRIPT NewRx in (INTEROP.md §7, §8): a valid message gets Status 010 and reads back field
by field through the JSON API; a resend replays; other content under the same order number is 409;
DOCTYPEs, entities, malformed bodies and incomplete messages get an Error and write nothing."""
from __future__ import annotations

import json
from xml.etree.ElementTree import fromstring

import pytest
from sqlalchemy import func, select

from pharmsafe.models import AuditEvent, ExternalIdentifier, Prescription
from pharmsafe.runtime import runtime_of
from tests.support import World

NS = "http://www.ncpdp.org/schema/SCRIPT"


@pytest.fixture
def world(app, client):
    return World(app, client)


@pytest.fixture
def parties(world):
    pharmacy = world.pharmacy()
    prescriber, doc = world.prescriber_api()
    patient = world.patient(doc)
    return pharmacy, prescriber, doc, patient


def newrx(pharmacy, prescriber, patient, written: str, *, order="ORD-1", version="2017071", namespace=True,
          days="30", refills="0", drop=(), medication=None, extra="") -> str:
    parts = {
        "rems": f"<REMSPatientID>{patient['rems_patient_id']}</REMSPatientID>",
        "pharmacy": f"<Pharmacy><Identification><NCPDPID>{pharmacy['ncpdp_id']}</NCPDPID></Identification></Pharmacy>",
        "days": f"<DaysSupply>{days}</DaysSupply>",
    }
    for name in drop:
        parts[name] = ""
    medication = medication or (
        "<DrugDescription>Isotretinoin 20 MG Oral Capsule</DrugDescription>"
        "<DrugCoded><ProductCode><Code>0591-2434-15</Code><Qualifier>ND</Qualifier></ProductCode>"
        "<DrugDBCode><Code>197844</Code><Qualifier>SCD</Qualifier></DrugDBCode>"
        "<Strength><StrengthValue>20</StrengthValue><StrengthForm><Code>C25158</Code></StrengthForm>"
        "<StrengthUnitOfMeasure><Code>C28253</Code></StrengthUnitOfMeasure></Strength></DrugCoded>")
    xmlns = f' xmlns="{NS}"' if namespace else ""
    version_attr = f' TransactionVersion="{version}"' if version else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><Message{xmlns} DatatypesVersion="2017071"{version_attr}>'
            f"<Header><To Qualifier=\"P\">{pharmacy['ncpdp_id']}</To><From Qualifier=\"C\">EHR-1</From>"
            f"<MessageID>MSG-{order}</MessageID><SentTime>2026-11-26T15:00:00Z</SentTime>"
            f"<PrescriberOrderNumber>{order}</PrescriberOrderNumber></Header>"
            f"<Body><NewRx><Patient><HumanPatient><Identification>{parts['rems']}</Identification>"
            f"<Name><LastName>Ient</LastName><FirstName>Pat</FirstName></Name>"
            f"<DateOfBirth><Date>{patient['date_of_birth']}</Date></DateOfBirth></HumanPatient></Patient>"
            f"{parts['pharmacy']}"
            f"<Prescriber><NonVeterinarian><Identification><NPI>{prescriber['npi']}</NPI></Identification>"
            f"</NonVeterinarian></Prescriber>"
            f"<MedicationPrescribed>{medication}"
            f"<Quantity><Value>60</Value><CodeListQualifier>38</CodeListQualifier>"
            f"<QuantityUnitOfMeasure><Code>C48480</Code></QuantityUnitOfMeasure></Quantity>"
            f"{parts['days']}<WrittenDate><Date>{written}</Date></WrittenDate>"
            f"<NumberOfRefills>{refills}</NumberOfRefills><Sig><SigText>1 capsule twice daily</SigText></Sig>"
            f"{extra}</MedicationPrescribed></NewRx></Body></Message>")


def post(api, body: str, status: int, content_type="application/xml", **headers):
    h = {"Content-Type": content_type, **headers}
    if api.token:
        h["Authorization"] = f"Bearer {api.token}"
    resp = api.client.post("/ncpdp/script", data=body.encode(), headers=h)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/xml"
    return resp, fromstring(resp.get_data())


def find(root, name: str):
    prefix = f"{{{NS}}}" if root.tag.startswith("{") else ""
    return root.find(".//" + "/".join(prefix + part for part in name.split("/")))


def counts(app) -> tuple[int, int, int]:
    with runtime_of(app).session_factory() as s:
        return (s.scalar(select(func.count()).select_from(Prescription)),
                s.scalar(select(func.count()).select_from(AuditEvent)),
                s.scalar(select(func.count()).select_from(ExternalIdentifier)))


def test_a_newrx_gets_status_010_and_reads_back_field_by_field(world, app, parties):
    pharmacy, prescriber, doc, patient = parties
    resp, root = post(doc, newrx(pharmacy, prescriber, patient, world.day(-1), refills="1"), 200)
    assert root.tag == f"{{{NS}}}Message" and root.attrib == {"DatatypesVersion": "2017071",
                                                               "TransactionVersion": "2017071"}
    assert find(root, "Status/Code").text == "010"
    assert find(root, "Header/To").text == "EHR-1" and find(root, "Header/From").text == pharmacy["ncpdp_id"]
    assert find(root, "Header/To").attrib == {"Qualifier": "C"} and b"ns0:" not in resp.get_data()
    assert find(root, "Header/RelatesToMessageID").text == "MSG-ORD-1"
    assert find(root, "Header/MessageID").text != "MSG-ORD-1" and find(root, "Header/SentTime").text.endswith("Z")
    rx_id = int(find(root, "Status/Description").text.split()[-1].rstrip("."))
    rx = doc.ok("GET", f"/prescriptions/{rx_id}")
    assert (rx["patient_id"], rx["pharmacy_id"], rx["drug"], rx["ndc"], float(rx["strength_mg"]),
            float(rx["quantity"]), rx["days_supply"], rx["refills"], rx["written_on"], rx["status"]) == (
        patient["id"], pharmacy["id"], "isotretinoin", "00591243415", 20.0, 60.0, 30, 1, world.day(-1), "submitted")
    with runtime_of(app).session_factory() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "prescription.submitted")).one()
        payload = json.loads(event.payload)
    assert payload["source"] == "ncpdp" and payload["prescriber_order_number"] == "ORD-1"
    assert payload["message_id"] == "MSG-ORD-1"


def test_a_resend_replays_and_other_content_is_a_duplicate(world, app, parties):
    pharmacy, prescriber, doc, patient = parties
    body = newrx(pharmacy, prescriber, patient, world.day(-1))
    _, first = post(doc, body, 200)
    before = counts(app)
    _, again = post(doc, body, 200)
    assert find(again, "Status/Description").text == find(first, "Status/Description").text
    assert counts(app) == before
    _, refused = post(doc, newrx(pharmacy, prescriber, patient, world.day(-1), days="28"), 409)
    assert find(refused, "Error/Code").text == "900"
    assert find(refused, "Error/Description").text.startswith("duplicate: ")
    assert counts(app) == before


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
                  "<Message><Body><NewRx>&lol2;</NewRx></Body></Message>")


@pytest.mark.parametrize("body, status, code", [
    ('<?xml version="1.0"?><!DOCTYPE Message SYSTEM "http://example.org/x.dtd"><Message/>', 400, "bad_request"),
    (BILLION_LAUGHS, 400, "bad_request"),
    ("<Message><Body><NewRx></Body></Message>", 400, "bad_request"),
    ("<Message><Body><RxRenewalRequest/></Body></Message>", 400, "bad_request"),
    ('<Message TransactionVersion="2010121"><Body><NewRx/></Body></Message>', 400, "bad_request"),
    ("", 400, "bad_request"),
])
def test_what_is_not_a_safe_newrx_gets_an_error_and_writes_nothing(app, parties, body, status, code):
    _, _, doc, _ = parties
    before = counts(app)
    _, root = post(doc, body, status)
    assert find(root, "Error/Code").text == "900"
    assert find(root, "Error/Description").text.startswith(f"{code}: ")
    assert counts(app) == before


def test_a_message_lacking_patient_pharmacy_and_days_supply_lists_every_problem(world, app, parties):
    pharmacy, prescriber, doc, patient = parties
    before = counts(app)
    _, root = post(doc, newrx(pharmacy, prescriber, patient, world.day(-1), drop=("rems", "pharmacy", "days")), 422)
    description = find(root, "Error/Description").text
    assert description.startswith("validation_error: ")
    for element in ("REMSPatientID is required", "NCPDPID is required", "DaysSupply is required"):
        assert element in description
    assert find(root, "Header/RelatesToMessageID").text == "MSG-ORD-1"
    assert counts(app) == before


def test_the_2023_version_and_no_namespace_read_the_same(world, parties):
    pharmacy, prescriber, doc, patient = parties
    _, root = post(doc, newrx(pharmacy, prescriber, patient, world.day(-1), version="2023011", namespace=False),
                   200, content_type="text/xml")
    assert root.tag == "Message" and root.attrib["TransactionVersion"] == "2023011"
    assert find(root, "Status/Code").text == "010"
    _, root = post(doc, newrx(pharmacy, prescriber, patient, world.day(-1), version=None, order="ORD-2"), 200)
    assert "TransactionVersion" not in root.attrib


def test_who_may_send_and_in_what_media(world, app, parties):
    pharmacy, prescriber, doc, patient = parties
    body = newrx(pharmacy, prescriber, patient, world.day(-1))
    post(world.anon, body, 401)
    _, rph = world.pharmacist_api(pharmacy)
    post(rph, body, 403)
    post(doc, body, 415, content_type="application/json")
    other, other_doc = world.prescriber_api()
    _, root = post(other_doc, body, 403)  # another prescriber's NPI and patient
    assert find(root, "Error/Description").text.startswith("forbidden: ")
    theirs = world.patient(other_doc)
    post(doc, newrx(pharmacy, prescriber, theirs, world.day(-1)), 403)
    assert counts(app)[0] == 0


def test_element_rules(world, app, parties):
    pharmacy, prescriber, doc, patient = parties
    not_ours = ("<DrugDescription>Azithromycin 250 MG Oral Capsule</DrugDescription>"
                "<DrugCoded><DrugDBCode><Code>308460</Code><Qualifier>SCD</Qualifier></DrugDBCode></DrugCoded>")
    _, root = post(doc, newrx(pharmacy, prescriber, patient, world.day(-1), medication=not_ours), 422)
    assert "not isotretinoin" in find(root, "Error/Description").text
    by_brand = "<DrugDescription>Absorica LD 32 mg capsule</DrugDescription><DrugCoded><Strength>" \
               "<StrengthValue>32</StrengthValue><StrengthUnitOfMeasure><Code>C28253</Code></StrengthUnitOfMeasure>" \
               "</Strength></DrugCoded>"
    post(doc, newrx(pharmacy, prescriber, patient, world.day(-1), medication=by_brand, order="ORD-B"), 200)
    unknown_strength = "<DrugDescription>isotretinoin capsule</DrugDescription>"
    _, root = post(doc, newrx(pharmacy, prescriber, patient, world.day(-1), medication=unknown_strength,
                              order="ORD-S"), 422)
    assert "strength is not known" in find(root, "Error/Description").text
    _, root = post(doc, newrx(pharmacy, prescriber, patient, world.day(-1), order="ORD-R",
                              extra="<DaysSupply>28</DaysSupply>"), 422)
    assert "DaysSupply appears 2 times" in find(root, "Error/Description").text
    _, root = post(doc, newrx(pharmacy, prescriber, patient, world.day(1), order="ORD-F"), 422)
    assert "WrittenDate: May not be in the future" in find(root, "Error/Description").text
    post(doc, newrx(pharmacy, prescriber, patient, "2026-11", order="ORD-M"), 422)


def test_a_written_date_time_keeps_its_own_offset(world, parties):
    pharmacy, prescriber, doc, patient = parties
    body = newrx(pharmacy, prescriber, patient, world.day(-1), order="ORD-T").replace(
        f"<WrittenDate><Date>{world.day(-1)}</Date>", f"<WrittenDate><DateTime>{world.day(-1)}T23:30:00-08:00</DateTime>")
    _, root = post(doc, body, 200)
    rx_id = int(find(root, "Status/Description").text.split()[-1].rstrip("."))
    assert doc.ok("GET", f"/prescriptions/{rx_id}")["written_on"] == world.day(-1)


def test_an_idempotency_key_replays_the_answer(world, app, parties):
    pharmacy, prescriber, doc, patient = parties
    body = newrx(pharmacy, prescriber, patient, world.day(-1), order="ORD-K")
    first, _ = post(doc, body, 200, **{"Idempotency-Key": "newrx-k"})
    again, _ = post(doc, body, 200, **{"Idempotency-Key": "newrx-k"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_data() == first.get_data()


def test_an_unknown_encoding_is_a_400_error_never_a_500(app, parties):
    _, _, doc, _ = parties
    before = counts(app)
    _, root = post(doc, '<?xml version="1.0" encoding="bogus"?><Message><Body><NewRx/></Body></Message>', 400)
    assert find(root, "Error/Description").text.startswith("bad_request: ")
    assert counts(app) == before


@pytest.mark.parametrize("strength, quantity, written, ok", [
    ("10000", "60", "{day}", True),
    ("10001", "60", "{day}", False),  # one over the JSON API's limit
    ("0.0001", "60", "{day}", False),  # more decimals than are stored: never rounded to 0
    ("20", "\u0666\u0660", "{day}", False),  # Arabic-Indic digits
    ("20", "6_0", "{day}", False),
    ("20", "60.0001", "{day}", False),
    ("20", "60", "{day}Tgarbage", False),
    ("20", "60", "{day}T10:00:00-05:00", True),
])
def test_numbers_and_dates_are_read_as_written_or_refused(world, app, parties, strength, quantity, written, ok):
    pharmacy, prescriber, doc, patient = parties
    medication = (
        "<DrugDescription>Isotretinoin 20 MG Oral Capsule</DrugDescription>"
        "<DrugCoded><DrugDBCode><Code>6064</Code><Qualifier>SCD</Qualifier></DrugDBCode>"
        f"<Strength><StrengthValue>{strength}</StrengthValue><StrengthForm><Code>C25158</Code></StrengthForm>"
        "<StrengthUnitOfMeasure><Code>C28253</Code></StrengthUnitOfMeasure></Strength></DrugCoded>")
    body = newrx(pharmacy, prescriber, patient, written.format(day=world.day(-1)), medication=medication)
    body = body.replace("<Quantity><Value>60</Value>", f"<Quantity><Value>{quantity}</Value>")
    before = counts(app)
    _, root = post(doc, body, 200 if ok else 422)
    if ok:
        assert find(root, "Status/Code").text == "010", body
    else:
        assert find(root, "Error/Code").text == "900" and counts(app) == before


@pytest.mark.parametrize("replace, by", [
    ("<Code>197844</Code>", "<Code>197844</Code><Code>123456</Code>"),
    ("<Qualifier>ND</Qualifier>", "<Qualifier>ND</Qualifier><Qualifier>ND</Qualifier>"),
    ("<Date>{day}</Date></WrittenDate>", "<Date>{day}</Date><DateTime>{day}T09:00:00Z</DateTime></WrittenDate>"),
])
def test_an_element_given_twice_is_refused_never_picked(world, app, parties, replace, by):
    pharmacy, prescriber, doc, patient = parties
    day = world.day(-1)
    body = newrx(pharmacy, prescriber, patient, day)
    assert replace.format(day=day) in body
    body = body.replace(replace.format(day=day), by.format(day=day))
    before = counts(app)
    _, root = post(doc, body, 422)
    assert find(root, "Error/Code").text == "900" and counts(app) == before
