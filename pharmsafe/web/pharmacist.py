"""The pharmacist's workbench: the queue of prescriptions routed to their pharmacy, and one
prescription with every gate, the deadline, and the Evaluate, Dispense and Reverse actions; a
patient locked by a positive pregnancy test is shown as locked on both. From a prescription the
pharmacist records the patient's earlier dispenses at other pharmacies (transfers-in) and withdraws
those their pharmacy recorded."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import and_, case, false, func, or_, select
from werkzeug.exceptions import BadRequest

from pharmsafe.errors import Conflict, Forbidden, NotFound
from pharmsafe.http.unit import get_session, make_ctx
from pharmsafe.models import Authorization, Dispense, Patient, Pharmacy, Prescriber, Prescription, TransferIn
from pharmsafe.models.statuses import AuthorizationStatus, PrescriptionStatus, values
from pharmsafe.schemas.common import UNSTORABLE
from pharmsafe.schemas.evidence import ReasonIn
from pharmsafe.schemas.prescriptions import DispenseIn
from pharmsafe.schemas.transfers import TransferInIn
from pharmsafe.services import evidence
from pharmsafe.services.access import require_prescription_access, visible_prescriptions
from pharmsafe.services.authorizations import is_past, reverse_authorization
from pharmsafe.services.course import actor_names, course
from pharmsafe.services.dispensing import dispense_authorization, dispense_day, prepare_rma, reverse_dispense
from pharmsafe.services.evaluation import evaluate_prescription, get_prescription, reevaluated
from pharmsafe.services.reads import decisions_of, latest_authorization
from pharmsafe.services.rma import normalise_rma
from pharmsafe.services.transfers import record_transfer_in
from pharmsafe.web import present, worklist
from pharmsafe.web.forms import Form, attempt
from pharmsafe.web.locks import patient_lock, patient_locks
from pharmsafe.web.session import current_user, guard, restored_form

bp = Blueprint("pharmacist", __name__, url_prefix="/pharmacist")
bp.before_request(guard("pharmacist", "technician"))


def _pharmacist_only() -> None:
    """Evaluate, Dispense, Reverse and withdrawing a transfer-in are a pharmacist's alone."""
    if current_user().role != "pharmacist":
        raise Forbidden("Only a pharmacist evaluates, dispenses or reverses; a technician prepares "
                        "(searches, reads, records transfers-in).")

PAGE_SIZE = 50
# The queue reads top-down as work: waiting first, then ready to hand out, then blocked, then done.
QUEUE_RANK = {"submitted": 0, "authorized": 1, "blocked": 2, "dispensed": 3, "expired": 4, "reversed": 5}


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


MAX_PAGE = 10_000


def _page_number() -> int:
    """?page= in ASCII digits (1 when absent or empty, within 1..MAX_PAGE); anything else is a 400
    page: int() would read "²" as nothing it can convert, and "３" as 3."""
    raw = request.args.get("page", "")
    if not raw:
        return 1
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest("The page number must be a whole number written in digits 0-9, such as 2.")
    return max(1, min(int(raw) if len(raw) <= 6 else MAX_PAGE, MAX_PAGE))


def _search_terms() -> str:
    """?q=, trimmed to 100 characters; a control character (NUL, which PostgreSQL cannot compare) is a
    400 page, as the same character in a stored name is refused."""
    query = (request.args.get("q") or "").strip()[:100]
    if UNSTORABLE.search(query):
        raise BadRequest("The search must not contain control characters (other than tab and line breaks).")
    return query


def _matches(term: str):
    """One search word: a part of the patient's or the prescriber's name or of the REMS patient ID;
    a date of birth written YYYY-MM-DD; a prescription number (with its #, that number alone)."""
    number = term.removeprefix("#")
    is_number = number.isascii() and number.isdigit() and len(number) <= 12
    if term.startswith("#"):  # a prescription number and nothing else
        return Prescription.id == int(number) if is_number else false()
    like = _like(term)
    alternatives = [column.ilike(like, escape="\\") for column in (
        Patient.first_name, Patient.last_name, Patient.rems_patient_id, Prescriber.first_name, Prescriber.last_name)]
    if is_number:
        alternatives.append(Prescription.id == int(number))
    if ISO_DATE.fullmatch(term):
        try:
            alternatives.append(Patient.date_of_birth == date.fromisoformat(term))
        except ValueError:
            pass
    return or_(*alternatives)


ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _next_step(rx: Prescription, dispense_by, now) -> str:
    """What happens next for a prescription of the full list, in a few words."""
    if rx.status == PrescriptionStatus.AUTHORIZED and dispense_by is not None:
        return "Pharmacist: dispense" if dispense_by > now else "Pharmacist: evaluate again (deadline passed)"
    return {PrescriptionStatus.SUBMITTED: "Pharmacist: evaluate",
            PrescriptionStatus.BLOCKED: "Prescriber: supply what is missing",
            PrescriptionStatus.EXPIRED: "Pharmacist: evaluate again",
            PrescriptionStatus.REVERSED: "Pharmacist: evaluate again, if it should be dispensed",
            PrescriptionStatus.DISPENSED: "Nothing: dispensed"}.get(rx.status, "")


@bp.get("/")
def queue():
    user = current_user()
    ctx = make_ctx(user.actor)
    session = get_session()
    query = _search_terms()
    status = request.args.get("status") if request.args.get("status") in values(PrescriptionStatus) else None
    page = _page_number()

    # The active authorization's deadline as a column (the entity would eagerly inner-join its decision
    # and drop the prescriptions that have none).
    stmt = (select(Prescription, Patient, Prescriber, Authorization.dispense_by)
            .join(Patient, Patient.id == Prescription.patient_id)
            .join(Prescriber, Prescriber.id == Prescription.prescriber_id)
            .outerjoin(Authorization, and_(Authorization.prescription_id == Prescription.id,
                                           Authorization.status == AuthorizationStatus.ACTIVE))
            .where(visible_prescriptions(user)))
    if status:
        stmt = stmt.where(Prescription.status == status)
    for term in query.split()[:5]:
        stmt = stmt.where(_matches(term))
    rank = case(QUEUE_RANK, value=Prescription.status, else_=len(QUEUE_RANK))
    rows = session.execute(stmt.order_by(rank, Authorization.dispense_by.asc().nulls_last(), Prescription.id.desc())
                           .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    counts = dict(session.execute(select(Prescription.status, func.count()).where(visible_prescriptions(user))
                                  .group_by(Prescription.status)).all())
    pharmacy = session.get(Pharmacy, user.pharmacy_id)
    more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
    zone = present.pharmacy_zone(ctx, pharmacy)
    # The worklists lead the unfiltered first page: what needs action now.
    lists = (worklist.worklists(session, visible_prescriptions(user), ctx.now, zone)
             if not (query or status) and page == 1 else None)
    patient_ids = [patient.id for _rx, patient, _prescriber, _by in rows]
    for bucket in (lists or {}).values():
        patient_ids += [item.patient.id for item in bucket["items"]]
    locks = patient_locks(session, patient_ids, ctx.today_for(pharmacy.time_zone if pharmacy else None))
    return render_template(
        "pharmacist/queue.html", rows=rows, more=more, page=page, query=query,
        status=status, counts=counts, pharmacy=pharmacy, zone=zone, now=ctx.now, time_left=present.time_left,
        locks=locks, lists=lists, list_titles=worklist.TITLES, list_size=worklist.LIST_SIZE,
        deadline_kind=lambda by: worklist.deadline_kind(by, ctx.now, zone), next_step=_next_step)


def _load(prescription_id: int):
    user = current_user()
    ctx = make_ctx(user.actor)
    rx = get_prescription(ctx, prescription_id)
    require_prescription_access(user, rx)
    return ctx, rx


def _authorization(rx: Prescription, form: Form) -> Authorization:
    """The authorization a form acted on (a hidden field), so that a form sent twice reaches the
    service and gets its answer ("already dispensed") instead of silently acting on another one."""
    auth_id = form.record_id("authorization_id")
    auth = get_session().get(Authorization, auth_id) if isinstance(auth_id, int) else None
    if auth is None or auth.prescription_id != rx.id:
        raise NotFound(f"Prescription {rx.id} has no such authorization.")
    return auth


def render_prescription(ctx, rx: Prescription, *, dispense_form: Form | None = None,
                        reverse_form: Form | None = None, undo_form: Form | None = None,
                        prepare_form: Form | None = None,
                        message: str | None = None, status: int = 200):
    session = get_session()
    patient = session.get(Patient, rx.patient_id)
    prescriber = session.get(Prescriber, rx.prescriber_id)
    pharmacy = session.get(Pharmacy, rx.pharmacy_id)
    decisions = decisions_of(session, rx.id)
    latest = decisions[0] if decisions else None
    auth = latest_authorization(session, rx.id)
    active = auth if auth is not None and auth.status == AuthorizationStatus.ACTIVE else None
    zone_name = pharmacy.time_zone if pharmacy is not None else None
    policy = ctx.policy(zone_name)
    quantity = present.number(rx.quantity)
    return render_template(
        "pharmacist/prescription.html", rx=rx, patient=patient, prescriber=prescriber, pharmacy=pharmacy,
        lock=patient_lock(session, patient.id, ctx.today_for(zone_name)), transfers=_transfers(patient.id),
        decisions=decisions, latest=latest, gates=present.gate_rows(latest), failures=present.failures(latest),
        auth=auth, active=active, deadline_passed=bool(active and is_past(active.dispense_by, ctx.now)),
        policy=policy, zone=present.pharmacy_zone(ctx, pharmacy), now=ctx.now,
        time_left=present.time_left(active.dispense_by, ctx.now) if active else "",
        deadline_source=present.deadline_source(active.decision.dispense_by_source) if active else "",
        current_through=present.other_evidence_current_through(latest),
        warnings=present.warnings_to_acknowledge(active.decision, latest) if active else [],
        prepared_by=(actor_names(session, [active.prepared_by]).get(active.prepared_by, active.prepared_by)
                     if active is not None and active.prepared_by else None),
        dispense_form=dispense_form or Form(_dispense_defaults(active, quantity)),
        prepare_form=prepare_form or Form(_dispense_defaults(active, quantity)),
        reverse_form=reverse_form or Form(), message=message, quantity=quantity,
        undo_form=undo_form or Form(), undoable=_undoable(ctx, rx, auth),
    ), status


@bp.get("/prescriptions/<int:prescription_id>")
def prescription(prescription_id: int):
    ctx, rx = _load(prescription_id)
    kept = restored_form()
    if kept is None:
        return render_prescription(ctx, rx)
    # Back from signing in again: the form that was typed into, filled in (Dispense, Prepare, Undo or
    # Reverse; Prepare is the one with an RMA and no quantity).
    if "quantity" in kept:
        return render_prescription(ctx, rx, dispense_form=Form(kept))
    if "rma_number" in kept:
        return render_prescription(ctx, rx, prepare_form=Form(kept))
    if "dispense_id" in kept:
        return render_prescription(ctx, rx, undo_form=Form(kept))
    return render_prescription(ctx, rx, reverse_form=Form(kept) if "reason" in kept else None)


@bp.post("/prescriptions/<int:prescription_id>/evaluate")
def evaluate(prescription_id: int):
    _pharmacist_only()
    ctx, rx = _load(prescription_id)
    form = Form()
    ok, result = attempt(form, lambda: evaluate_prescription(ctx, rx.id))
    if not ok:
        return render_prescription(ctx, rx, message=form.message, status=form.status)
    decision, auth = result
    if auth is not None:
        flash("Evaluated: every gate allows dispensing; the prescription is authorized.", "success")
    else:
        flash("Evaluated: the prescription is blocked; see what is missing below.", "error")
    return redirect(url_for(".prescription", prescription_id=rx.id), 303)


@bp.post("/prescriptions/<int:prescription_id>/dispense")
def dispense(prescription_id: int):
    _pharmacist_only()
    ctx, rx = _load(prescription_id)
    form = Form.from_request(lists=("acknowledged_warnings",))
    auth = _authorization(rx, form)

    def act():
        data = DispenseIn().load({
            "quantity": form.text("quantity"), "rma_number": form.text("rma_number"),
            "rma_do_not_dispense_after": form.text("rma_do_not_dispense_after"),
            "acknowledged_warnings": form.many("acknowledged_warnings")})
        return dispense_authorization(ctx, auth.id, quantity=data["quantity"], rma_number=data.get("rma_number"),
                                      rma_do_not_dispense_after=data.get("rma_do_not_dispense_after"),
                                      acknowledged_warnings=data.get("acknowledged_warnings") or [])

    def act_once():
        try:
            return act()
        except Conflict as exc:
            if exc.code == "already_dispensed" and _repeated_dispense(ctx, auth, form):
                return None  # the same person's second click on the same form: the first one's answer
            raise

    ok, _row = attempt(form, act_once)
    if not ok:
        return render_prescription(ctx, rx, dispense_form=form, message=form.message, status=form.status)
    flash("Dispensed and recorded.", "success")
    return redirect(url_for(".prescription", prescription_id=rx.id), 303)


def _dispense_defaults(active: Authorization | None, quantity: str) -> dict:
    """The Dispense form as it opens: the quantity, and the RMA prepared for it, if any."""
    values = {"quantity": quantity}
    if active is not None and active.prepared_rma_number:
        values["rma_number"] = active.prepared_rma_number
        if active.prepared_rma_do_not_dispense_after:
            values["rma_do_not_dispense_after"] = active.prepared_rma_do_not_dispense_after.isoformat()
    return values


def _undoable(ctx, rx: Prescription, auth: Authorization | None) -> Dispense | None:
    """The dispense a pharmacist may still undo: in effect, and recorded today."""
    done = auth.dispense if auth is not None else None
    if done is None or done.reversed_at is not None or rx.status != PrescriptionStatus.DISPENSED:
        return None
    return done if done.dispensed_on == dispense_day(ctx, rx) else None


# A form sent again this soon by the person whose dispense it made is their repeated click (a
# double-click over a slow link), answered as the first was; anything else stays "already dispensed".
REPEAT_WINDOW = timedelta(minutes=10)


def _repeated_dispense(ctx, auth: Authorization, form: Form) -> bool:
    done = get_session().scalar(select(Dispense).where(Dispense.authorization_id == auth.id))
    if (done is None or done.reversed_at is not None or done.dispensed_by != ctx.actor
            or ctx.now - done.dispensed_at > REPEAT_WINDOW):  # an undone dispense answers no repeat
        return False
    try:
        quantity = Decimal(form.text("quantity") or "x")
    except ArithmeticError:
        return False
    return quantity == Decimal(done.quantity) and normalise_rma(form.text("rma_number")) == done.rma_number


@bp.post("/prescriptions/<int:prescription_id>/prepare")
def prepare(prescription_id: int):
    """A technician (or a pharmacist) keeps the RMA obtained from the REMS for the Dispense form."""
    ctx, rx = _load(prescription_id)
    form = Form.from_request()
    auth = _authorization(rx, form)

    def act():
        data = DispenseIn(partial=("quantity",)).load({
            "rma_number": form.text("rma_number"), "rma_do_not_dispense_after": form.text("rma_do_not_dispense_after")})
        return prepare_rma(ctx, auth.id, current_user().pharmacy_id, data.get("rma_number"),
                           data.get("rma_do_not_dispense_after"))

    ok, _auth = attempt(form, act)
    if not ok:
        return render_prescription(ctx, rx, prepare_form=form, message=form.message, status=form.status)
    flash("RMA kept for the pharmacist: it fills the Dispense form, and is checked again when they dispense.",
          "success")
    return redirect(url_for(".prescription", prescription_id=rx.id), 303)


@bp.post("/prescriptions/<int:prescription_id>/dispense-reversal")
def reverse_dispense_view(prescription_id: int):
    """Undo a dispense entered by mistake, on the day it was recorded, with a reason."""
    _pharmacist_only()
    ctx, rx = _load(prescription_id)
    form = Form.from_request()
    dispense_id = form.record_id("dispense_id")

    def act():
        reason = ReasonIn().load({"reason": form.text("reason")})["reason"]
        if not isinstance(dispense_id, int):
            raise NotFound("No such dispense.")
        row = get_session().get(Dispense, dispense_id)
        if row is None or row.prescription_id != rx.id:
            raise NotFound(f"Prescription {rx.id} has no dispense {dispense_id}.")
        return reverse_dispense(ctx, dispense_id, current_user().pharmacy_id, reason,
                                rma_reversal_noted=form.text("rma_reversed") == "yes")

    ok, _row = attempt(form, act)
    if not ok:
        return render_prescription(ctx, rx, undo_form=form, message=form.message, status=form.status)
    flash("The dispense is reversed: it no longer counts anywhere, and its RMA number stays used. "
          "Evaluate again to dispense.", "success")
    return redirect(url_for(".prescription", prescription_id=rx.id), 303)


@bp.post("/prescriptions/<int:prescription_id>/reverse")
def reverse(prescription_id: int):
    _pharmacist_only()
    ctx, rx = _load(prescription_id)
    form = Form.from_request()
    auth = _authorization(rx, form)

    def act():
        return reverse_authorization(ctx, auth.id, ReasonIn().load({"reason": form.text("reason")})["reason"])

    ok, _auth = attempt(form, act)
    if not ok:
        return render_prescription(ctx, rx, reverse_form=form, message=form.message, status=form.status)
    flash("The authorization is reversed; it can no longer be dispensed.", "success")
    return redirect(url_for(".prescription", prescription_id=rx.id), 303)


@bp.get("/prescriptions/<int:prescription_id>/course")
def patient_course(prescription_id: int):
    """The course of the prescription's patient, with the prescriptions routed to this pharmacy."""
    ctx, rx = _load(prescription_id)
    session = get_session()
    patient = session.get(Patient, rx.patient_id)
    entries = course(session, patient.id, visible=visible_prescriptions(current_user()))
    return render_template("course.html", patient=patient, entries=entries,
                           zone=present.pharmacy_zone(ctx, session.get(Pharmacy, rx.pharmacy_id)),
                           back=url_for(".prescription", prescription_id=rx.id))


# Transfers-in: the patient's earlier dispenses at other pharmacies, recorded from a prescription of
# the patient routed to this pharmacy (DESIGN.md §5).
def _transfers(patient_id: int) -> list[tuple[TransferIn, Pharmacy]]:
    return get_session().execute(
        select(TransferIn, Pharmacy).join(Pharmacy, Pharmacy.id == TransferIn.pharmacy_id)
        .where(TransferIn.patient_id == patient_id).order_by(TransferIn.id.desc())).all()


def _transfer_page(template: str, form: Form, **context):
    return render_template(template, form=form, **context), form.status if form.invalid else 200


@bp.route("/prescriptions/<int:prescription_id>/transfers-in/new", methods=["GET", "POST"])
def new_transfer_in(prescription_id: int):
    ctx, rx = _load(prescription_id)
    session = get_session()
    user = current_user()
    pharmacy = session.get(Pharmacy, rx.pharmacy_id)
    context = {"rx": rx, "patient": session.get(Patient, rx.patient_id), "pharmacy": pharmacy,
               "rma_required": ctx.policy(pharmacy.time_zone).require_rma}
    if request.method == "GET":
        return _transfer_page("pharmacist/transfer_in_form.html", Form(restored_form()), **context)
    form = Form.from_request()

    def act():
        data = TransferInIn().load({
            "dispensed_on": form.text("dispensed_on"), "days_supply": form.integer("days_supply"),
            "quantity": form.text("quantity"), "source_ncpdp_id": form.text("source_ncpdp_id"),
            "rma_number": form.text("rma_number")})
        return record_transfer_in(ctx, rx.patient_id, user.pharmacy_id, data)

    ok, _row = attempt(form, act)
    if not ok:
        return _transfer_page("pharmacist/transfer_in_form.html", form, **context)
    notice = present.reevaluation_notice(reevaluated(ctx))
    flash("Transfer-in recorded: it counts as an earlier dispense from now on."
          + (" " + notice if notice else " Evaluate again to apply it."), "success")
    return redirect(url_for(".prescription", prescription_id=rx.id), 303)


@bp.route("/prescriptions/<int:prescription_id>/transfers-in/<int:evidence_id>/entered-in-error",
          methods=["GET", "POST"])
def transfer_in_entered_in_error(prescription_id: int, evidence_id: int):
    _pharmacist_only()
    ctx, rx = _load(prescription_id)
    user = current_user()
    row = evidence.get_evidence(ctx, "transfers-in", rx.patient_id, evidence_id)
    if row.pharmacy_id != user.pharmacy_id:
        raise Forbidden(f"Transfer-in {row.id} was recorded by another pharmacy; only its pharmacists may "
                        "withdraw it.")
    session = get_session()
    context = {"rx": rx, "patient": session.get(Patient, rx.patient_id), "row": row}
    if request.method == "GET":
        return _transfer_page("pharmacist/transfer_in_entered_in_error.html", Form(restored_form()), **context)
    form = Form.from_request()

    def act():
        reason = ReasonIn().load({"reason": form.text("reason")})["reason"]
        return evidence.mark_entered_in_error(ctx, "transfers-in", rx.patient_id, row.id, reason)

    ok, _row = attempt(form, act)
    if not ok:
        return _transfer_page("pharmacist/transfer_in_entered_in_error.html", form, **context)
    flash("Transfer-in marked entered-in-error: it no longer counts, and authorizations that relied on it "
          "are reversed.", "success")
    return redirect(url_for(".prescription", prescription_id=rx.id), 303)
