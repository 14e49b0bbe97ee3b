"""Console pages: sign in, dashboard, issue a code (large, with a QR link), codes, upload on a
case's behalf, audit log. Roles are enforced on every page; every form carries a CSRF token."""

from __future__ import annotations

import io
import math
import secrets
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select, update

from protocol import keyfile
from protocol.errors import KeyFileError
from protocol.keys import TEK_ROLLING_PERIOD, en_interval_number
from tracer_server.api.deps import ClientId, DbDep, NowDep, StateDep
from tracer_server.clock import utcnow
from tracer_server.console import auth, chart
from tracer_server.console.errors import FormExpired, console_message, key_file_message
from tracer_server.console.i18n import LANGUAGES, N_, choose_language, environment, translate, zone_label
from tracer_server.db import as_utc
from tracer_server.errors import Forbidden, NotFound, PayloadTooLarge, ServerError
from tracer_server.models import ExportBatch, ExportFile, Exposure, Official, VerificationCode
from tracer_server.services import adoption, officials
from tracer_server.services.certificates import date_interval
from tracer_server.services.codes import (
    check_dates,
    code_status,
    find_code,
    issue_code,
    list_codes,
    revoke_code,
)
from tracer_server.services.officials import AUDIT_ACTIONS, audit, list_audit, record_sign_in
from tracer_server.services.publish import REPORT_TYPES, accept_keys

__all__ = ["SignInRequired", "error_page", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)
# One environment per language, each with its catalog installed (i18n.environment).
_TEMPLATES = {lang: Jinja2Templates(env=environment(lang)) for lang in LANGUAGES}
TEST_TYPES = {
    "confirmed": N_("Confirmed"),
    "likely": N_("Likely (clinical)"),
    "negative": N_("Negative (revocation)"),
    "user-report": N_("Self-report"),
}
STATUSES = {"active": N_("active"), "claimed": N_("used"), "revoked": N_("revoked"), "expired": N_("expired")}
ROLES = {"admin": N_("administrator"), "official": N_("official")}
# The audit log's actions as an official reads them (the stored identifiers stay as they are).
ACTIONS = {
    "official.created": N_("official created"),
    "console.signed_in": N_("signed in to the console"),
    "code.issued": N_("code issued"),
    "code.revoked": N_("code revoked"),
    "keys.uploaded_for_case": N_("keys uploaded on a case's behalf"),
    "adoption.target_set": N_("adoption target set"),
}
_BAD_DATE = N_("Write dates as day, month and year in the date field.")
LOGIN_ERRORS = {
    "bad_sign_in": N_("Wrong name or password."),
    "too_many": N_("Too many attempts. Wait a minute."),
}
_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_MAX_KEY_FILE = 16 * 1024


class SignInRequired(Exception):
    """Raised by the session dependency; answered with a redirect to the sign-in page."""


def _signed_in(request: Request, db: DbDep, state: StateDep, now: NowDep) -> auth.SignedIn:
    session = auth.open_session(db=db, keys=state.keys, token=request.cookies.get(auth.COOKIE), now=now)
    if session is None:
        raise SignInRequired()
    return session


SignedInDep = Annotated[auth.SignedIn, Depends(_signed_in)]


def _page(
    request: Request,
    name: str,
    session: auth.SignedIn | None,
    status: int = 200,
    *,
    lang: str | None = None,
    **context: Any,
) -> Response:
    lang = choose_language(lang) if lang else page_language(request, session)
    zone = request.app.state.bluezone.settings.display_time_zone
    response = _TEMPLATES[lang].TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "session": session,
            "test_types": TEST_TYPES,
            "statuses": STATUSES,
            "roles": ROLES,
            "actions": ACTIONS,
            "display_time_zone": zone,
            "zone_name": zone_label(lang, ZoneInfo(zone), datetime.now(UTC)),
            **context,
        },
        status_code=status,
    )
    response.headers.update(_HEADERS)
    return response


def page_language(request: Request, session: auth.SignedIn | None) -> str:
    """The session's language; before sign-in, the page's ``?lang=`` (Vietnamese by default)."""
    return choose_language(session.lang if session else request.query_params.get("lang", "vi"))


def _check_csrf(session: auth.SignedIn, token: str) -> None:
    if not auth.same(session.csrf, token):
        raise FormExpired("the form expired or did not come from this console: reload and try again")


def _forbidden(request: Request, session: auth.SignedIn) -> Response:
    return error_page(request, Forbidden("This page is for administrators."), session=session)


def error_page(request: Request, error: ServerError, *, session: auth.SignedIn | None = None) -> Response:
    """A refusal as a console page (the layout, the official's language), not the API's JSON.

    Called by the app's handlers too, where no dependency ran: the session is read here then."""
    if session is None:
        state = request.app.state.bluezone
        with state.factory() as db:
            session = auth.open_session(
                db=db, keys=state.keys, token=request.cookies.get(auth.COOKIE), now=utcnow(state.clock)
            )
    message = console_message(page_language(request, session), error)
    return _page(request, "error.html", session, error.http_status, message=message)


# ---- sign in and out --------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, state: StateDep, error: str = "") -> Response:
    pre = request.cookies.get(auth.LOGIN_COOKIE) or secrets.token_urlsafe(24)
    lang = page_language(request, None)
    message = translate(lang, LOGIN_ERRORS.get(error, LOGIN_ERRORS["bad_sign_in"])) if error else ""
    response = _page(request, "login.html", None, csrf=auth.login_csrf(state.keys, pre), error=message)
    response.set_cookie(
        auth.LOGIN_COOKIE, pre, httponly=True, secure=True, samesite="strict", path="/console"
    )
    return response


@router.post("/login")
def login(
    request: Request,
    db: DbDep,
    state: StateDep,
    now: NowDep,
    client: ClientId,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=100)],
    lang: Annotated[str, Form(max_length=2)] = "vi",
) -> Response:
    lang = choose_language(lang)
    # Back to the sign-in page with the reason, in the language it was in.
    again = "/console/login?" + ("" if lang == "vi" else f"lang={lang}&") + "error="
    pre = request.cookies.get(auth.LOGIN_COOKIE, "")
    if not pre or not auth.same(auth.login_csrf(state.keys, pre), csrf):
        return RedirectResponse(again + "bad_sign_in", status_code=303)
    try:
        state.signin.admit(keys=state.keys, name=name, client=client)
    except auth.SignInThrottled as throttled:
        record_sign_in(db=db, now=now, name=name, official=None, reason="throttled", client=client)
        if not throttled.everyone:
            return RedirectResponse(again + "too_many", status_code=303)
        wait = math.ceil(throttled.retry_after)
        busy = translate(
            lang,
            "Too many wrong passwords on this server: every sign-in waits. Try again in %(seconds)s seconds.",
            seconds=wait,
        )
        page = _page(request, "login.html", None, 429, lang=lang, csrf=csrf, error=busy)
        page.headers["Retry-After"] = str(wait)
        return page
    official = auth.check_password(db=db, name=name.strip(), password=password)
    if official is None:
        state.signin.failed(keys=state.keys)
        record_sign_in(db=db, now=now, name=name, official=None, reason="refused", client=client)
        return RedirectResponse(again + "bad_sign_in", status_code=303)
    token = auth.start_session(db=db, keys=state.keys, official=official, lang=lang, now=now)
    record_sign_in(db=db, now=now, name=name, official=official, reason=None, client=client)
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(
        auth.COOKIE,
        token,
        max_age=auth.SESSION_HOURS * 3600,
        httponly=True,
        secure=True,
        samesite="strict",
        path="/console",
    )
    response.delete_cookie(auth.LOGIN_COOKIE, path="/console")
    return response


@router.post("/logout")
def logout(
    request: Request, db: DbDep, state: StateDep, session: SignedInDep, csrf: Annotated[str, Form()]
) -> Response:
    _check_csrf(session, csrf)
    auth.end_session(db=db, keys=state.keys, token=request.cookies.get(auth.COOKIE))
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/console")
    return response


# ---- pages -------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, db: DbDep, state: StateDep, session: SignedInDep, now: NowDep) -> Response:
    since = now - timedelta(days=14)
    zone = ZoneInfo(state.settings.display_time_zone)
    uploads: dict[date, int] = {}
    held = 0
    for created, count in db.execute(
        select(Exposure.created_at, func.count())
        .where(Exposure.created_at >= since)
        .group_by(Exposure.created_at)
    ):
        # A key still valid when uploaded is stored as created when its day ends (the embargo):
        # that is not an upload from tomorrow, so it is counted as held, not under a future day.
        if as_utc(created) > now:
            held += count
            continue
        day = as_utc(created).astimezone(zone).date()
        uploads[day] = uploads.get(day, 0) + count
    batches: dict[date, list[int]] = {}
    for end, files, keys in db.execute(
        select(
            ExportBatch.end,
            func.count(ExportFile.name),
            func.coalesce(func.sum(ExportFile.real_key_count), 0),
        )
        .join(ExportFile, ExportFile.batch_id == ExportBatch.id)
        .where(ExportBatch.end >= since)
        .group_by(ExportBatch.end)
    ):
        entry = batches.setdefault(as_utc(end).astimezone(zone).date(), [0, 0])
        entry[0] += files
        entry[1] += keys
    return _page(
        request,
        "dashboard.html",
        session,
        uploads=sorted(uploads.items(), reverse=True),
        batches=sorted(batches.items(), reverse=True),
        held=held,
    )


@router.get("/issue", response_class=HTMLResponse)
def issue_page(request: Request, session: SignedInDep) -> Response:
    return _page(request, "issue.html", session, issued=None)


@router.post("/issue", response_class=HTMLResponse)
def issue(
    request: Request,
    db: DbDep,
    state: StateDep,
    now: NowDep,
    session: SignedInDep,
    csrf: Annotated[str, Form()],
    test_type: Annotated[str, Form()],
    symptom_date: Annotated[str, Form()] = "",
    test_date: Annotated[str, Form()] = "",
) -> Response:
    _check_csrf(session, csrf)
    try:
        onset = date.fromisoformat(symptom_date) if symptom_date else None
        tested = date.fromisoformat(test_date) if test_date else None
        state.issue_limiter.check(state.keys.digest(f"official:{session.official.id}"))
        issued = issue_code(
            db=db, keys=state.keys, settings=state.settings, official=session.official, test_type=test_type,
            symptom_date=onset, test_date=tested, tz_offset_minutes=state.settings.default_tz_offset_minutes, now=now,
        )  # fmt: skip
    except ValueError:  # a browser's date field sends YYYY-MM-DD; anything else was typed by hand
        message = translate(session.lang, _BAD_DATE)
        return _page(request, "issue.html", session, 400, issued=None, error=message)
    except ServerError as exc:
        message = console_message(session.lang, exc)
        return _page(request, "issue.html", session, exc.http_status, issued=None, error=message)
    # The link's host is configured, never the request's Host header: a client writes that, and
    # a forged one would put an attacker's address in the QR code handed to a case.
    base = state.settings.public_base_url
    link = f"{base}/v?c={issued.code}&r={state.settings.region}" if base else None
    return _page(request, "issue.html", session, issued=issued, link=link, qr=_qr_svg(link) if link else None)


def _qr_svg(text: str) -> str:
    import segno

    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=6, xmldecl=False, svgns=True, omitsize=False)
    return out.getvalue().decode()


@router.get("/codes", response_class=HTMLResponse)
def codes(
    request: Request,
    db: DbDep,
    state: StateDep,
    session: SignedInDep,
    now: NowDep,
    reference: Annotated[str, Query(max_length=36)] = "",
    day: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[str, Query(max_length=9)] = "1",
) -> Response:
    issued_on = _filter_day(day)
    if issued_on is None:
        day = ""  # shown empty: the filter was not applied
    found = list_codes(
        db=db,
        official=session.official,
        reference=reference,
        day=issued_on,
        zone=_zone(state),
        page=_page_number(page),
    )
    rows = [_code_row(row, now) for row in found.rows]
    return _page(request, "codes.html", session, rows=rows, found=found, reference=reference, day=day)


def _filter_day(text: str) -> date | None:
    """A date filter from the address bar: one that does not parse is dropped, never a 422 page."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _page_number(text: str) -> int:
    # A page number a person edited in the address bar: anything but digits is the first page.
    return int(text) if text.isdigit() else 1


def _code_row(row: VerificationCode, now: datetime) -> dict[str, Any]:
    status = code_status(row, now)
    return {
        "uuid": row.uuid,
        "test_type": row.test_type,
        "issued_at": as_utc(row.issued_at),
        "status": status,
    }


def _zone(state: Any) -> tzinfo:
    return ZoneInfo(state.settings.display_time_zone)


def _not_found(request: Request, session: auth.SignedIn, message: str) -> Response:
    text = translate(page_language(request, session), message)
    return _page(request, "error.html", session, 404, message=text)


@router.get("/codes/{code_uuid}/revoke", response_class=HTMLResponse)
def revoke_confirm(
    request: Request, code_uuid: str, db: DbDep, session: SignedInDep, now: NowDep
) -> Response:
    try:
        row = find_code(db=db, official=session.official, code_uuid=code_uuid)
    except NotFound:
        return _not_found(request, session, N_("No code has that reference."))
    code = {
        "uuid": row.uuid,
        "test_type": row.test_type,
        "issued_at": as_utc(row.issued_at),
        "status": code_status(row, now),
    }
    return _page(request, "revoke.html", session, code=code)


@router.post("/codes/{code_uuid}/revoke")
def revoke(
    request: Request,
    code_uuid: str,
    db: DbDep,
    session: SignedInDep,
    now: NowDep,
    csrf: Annotated[str, Form()],
) -> Response:
    _check_csrf(session, csrf)
    try:
        revoke_code(db=db, official=session.official, code_uuid=code_uuid, now=now)
    except NotFound:
        return _not_found(request, session, N_("No code has that reference."))
    return RedirectResponse(f"/console/codes?reference={code_uuid}", status_code=303)


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, session: SignedInDep) -> Response:
    return _page(request, "upload.html", session, result=None)


@router.post("/upload", response_class=HTMLResponse)
def upload(
    request: Request,
    db: DbDep,
    state: StateDep,
    now: NowDep,
    session: SignedInDep,
    csrf: Annotated[str, Form()],
    report_type: Annotated[str, Form()],
    key_file: Annotated[UploadFile | None, File()] = None,
    key_text: Annotated[str, Form(max_length=_MAX_KEY_FILE)] = "",
    symptom_date: Annotated[str, Form()] = "",
    test_date: Annotated[str, Form()] = "",
    consent: Annotated[str, Form()] = "",
) -> Response:
    _check_csrf(session, csrf)

    def fail(message: str) -> Response:
        return _page(request, "upload.html", session, 400, result=None, error=message)

    lang = session.lang
    if consent != "yes":
        return fail(translate(lang, "Tick the box that says the case agreed to the upload."))
    if report_type not in ("confirmed", "likely", "user-report"):
        return fail(translate(lang, "Choose a report type from the list."))
    data: bytes | str = key_text.strip()
    if key_file is not None and key_file.filename:
        data = key_file.file.read(_MAX_KEY_FILE + 1)  # a sync handler: in the pool, off the loop
        if len(data) > _MAX_KEY_FILE:
            return fail(console_message(lang, PayloadTooLarge("the key file is too large")))
    if not data:
        return fail(translate(lang, "Choose the key file or paste the text of its QR code."))
    try:
        keys = keyfile.load(data)
        onset_day = date.fromisoformat(symptom_date) if symptom_date else None
        tested_day = date.fromisoformat(test_date) if test_date else None
    except KeyFileError as exc:
        return fail(key_file_message(lang, exc))
    except ValueError:
        return fail(translate(lang, _BAD_DATE))
    try:  # the same dates the issue form accepts, said in the form's words
        check_dates(settings=state.settings, now=now, tz_offset_minutes=state.settings.default_tz_offset_minutes,
                    symptomDate=onset_day, testDate=tested_day)  # fmt: skip
    except ServerError as exc:
        return fail(console_message(lang, exc))
    anchor = onset_day or tested_day
    onset = date_interval(anchor) if anchor else en_interval_number(now.timestamp()) - 4 * TEK_ROLLING_PERIOD
    try:
        outcome = accept_keys(
            db=db, keys=state.keys, settings=state.settings, parsed=list(enumerate(keys)),
            report_type=REPORT_TYPES[report_type], onset=onset or 0, authority=state.settings.health_authority_id,
            now=now,
        )  # fmt: skip
    except ServerError as exc:
        return fail(console_message(lang, exc))
    audit(
        db=db, now=now, official_id=session.official.id, action="keys.uploaded_for_case",
        detail={"keys": outcome.inserted, "reportType": report_type},
    )  # fmt: skip
    return _page(request, "upload.html", session, result=outcome)


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    db: DbDep,
    state: StateDep,
    session: SignedInDep,
    action: Annotated[str, Query(max_length=64)] = "",
    official: Annotated[str, Query(max_length=12)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[str, Query(max_length=9)] = "1",
) -> Response:
    if session.official.role != "admin":
        return _forbidden(request, session)
    # A filter that does not parse is dropped (and shown empty), never a 422 page.
    action = action if action in AUDIT_ACTIONS else ""
    official_id = int(official) if official.isdigit() else None
    since_day, until_day = _filter_day(since), _filter_day(until)
    found = list_audit(
        db=db,
        action=action,
        official_id=official_id,
        since=since_day,
        until=until_day,
        zone=_zone(state),
        page=_page_number(page),
    )
    everyone = list(db.scalars(select(Official).order_by(Official.name)))
    names = {o.id: o.name for o in everyone}
    entries = [
        {
            "at": as_utc(e.at),
            "who": names.get(e.official_id) if e.official_id is not None else None,
            "subject": names.get(e.subject_id) if e.subject_id is not None else None,
            "action": e.action,
            "detail": detail,
        }
        for e, detail in zip(found.entries, found.details, strict=True)
    ]
    filters = {
        "action": action,
        "official": str(official_id) if official_id is not None else "",
        "since": since_day.isoformat() if since_day else "",
        "until": until_day.isoformat() if until_day else "",
    }
    return _page(
        request, "audit.html", session, entries=entries, found=found, officials=everyone,
        actions=AUDIT_ACTIONS, filters=filters,
    )  # fmt: skip


@router.post("/language")
def language(
    db: DbDep, state: StateDep, request: Request, session: SignedInDep, csrf: Annotated[str, Form()]
) -> Response:
    _check_csrf(session, csrf)
    from tracer_server.models import ConsoleSession

    token = request.cookies.get(auth.COOKIE, "")
    db.execute(
        update(ConsoleSession)
        .where(ConsoleSession.token_hash == state.keys.digest(token))
        .values(lang="en" if session.lang == "vi" else "vi")
    )
    return RedirectResponse("/console/", status_code=303)


# ---- adoption ------------------------------------------------------------------------------------


def _chart(rows: list[adoption.DistrictRow], lang: str) -> str | None:
    """The daily counts as an SVG, or None before any signal: the page then says what to do."""
    if not any(count for row in rows for _, count in row.history):
        return None
    words = chart.ChartWords(
        title=translate(lang, "Devices active per day, by district"),
        x_axis=translate(lang, "Day (UTC; a day shows once it is over)"),
        y_axis=translate(lang, "Devices active"),
        hidden=translate(
            lang, "under %(k)s: not shown exactly", k=format_decimal(adoption.MIN_SHOWN, locale=lang)
        ),
    )
    series = [chart.Series(row.name, row.history) for row in rows]
    return chart.line_chart(series, lang, words, floor=adoption.MIN_SHOWN)


def _adoption(
    request: Request, db: DbDep, session: auth.SignedIn, now: datetime, status: int = 200, **context: Any
) -> Response:
    rows = adoption.report(db, now.date())
    lang = choose_language(session.lang)
    return _page(request, "adoption.html", session, status, rows=rows, chart=_chart(rows, lang),
                 minimum=adoption.MIN_SHOWN, **context)  # fmt: skip


@router.get("/adoption", response_class=HTMLResponse)
def adoption_page(
    request: Request, db: DbDep, session: SignedInDep, now: NowDep, target_set: str = ""
) -> Response:
    return _adoption(request, db, session, now, target_set=target_set)


@router.get("/adoption.csv")
def adoption_csv(db: DbDep, session: SignedInDep, now: NowDep) -> Response:
    body = adoption.report_csv(adoption.report(db, now.date()))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="adoption-{now.date().isoformat()}.csv"',
            **_HEADERS,
        },
    )


class _BadTarget(ValueError):
    """A target form's input, with the console message (an N_ msgid) that says what is wrong."""


def _parse_target(target_percent: str, deadline: str) -> tuple[float | None, date | None]:
    """Percent of smartphone owners ("60", "12,5" or "12.5"; empty clears it) and a date."""
    text = target_percent.strip().removesuffix("%").strip().replace(",", ".")
    try:
        percent = float(text) if text else None
    except ValueError:
        raise _BadTarget(N_("The target must be a number of percent, such as 60.")) from None
    if percent is not None and not (math.isfinite(percent) and 0 < percent <= 100):
        raise _BadTarget(N_("The target must be more than 0 %% and at most 100 %% of smartphone owners."))
    try:
        due = date.fromisoformat(deadline.strip()) if deadline.strip() else None
    except ValueError:
        raise _BadTarget(N_("The deadline must be a date, such as 2021-08-30.")) from None
    if due is not None and percent is None:
        raise _BadTarget(N_("A deadline needs a target: enter both, or clear both."))
    return (None if percent is None else percent / 100), due


@router.post("/adoption/{code}/target")
def adoption_target(
    request: Request,
    code: str,
    db: DbDep,
    now: NowDep,
    session: SignedInDep,
    csrf: Annotated[str, Form()],
    target_percent: Annotated[str, Form()] = "",
    deadline: Annotated[str, Form()] = "",
) -> Response:
    _check_csrf(session, csrf)
    if session.official.role != "admin":
        return _forbidden(request, session)
    try:
        share, due = _parse_target(target_percent, deadline)
    except _BadTarget as bad:
        # The page again, the message by the form and what was typed still in it.
        return _adoption(request, db, session, now, 400, error=str(bad), error_code=code,
                         typed={"target_percent": target_percent, "deadline": deadline})  # fmt: skip
    try:
        adoption.set_target(db, code, share, due)
    except ServerError:  # the only one left: no such district
        return _adoption(request, db, session, now, 404, error=N_("There is no district with that code."))
    audit(db=db, now=now, official_id=session.official.id, action="adoption.target_set",
          detail={"district": code, "target": target_percent, "deadline": deadline})  # fmt: skip
    return RedirectResponse(f"/console/adoption?target_set={code}#target-{code}", status_code=303)


# ---- officials' administration (admins) --------------------------------------------------------

# Each action: a confirmation page (GET) and the action itself (POST with the session's CSRF).
_OFFICIAL_ACTIONS = ("rotate-api-key", "reset-password", "disable", "enable")


def _official_or_404(
    request: Request, db: DbDep, session: auth.SignedIn, official_id: str
) -> Official | Response:
    if session.official.role != "admin":
        return _forbidden(request, session)
    official = db.get(Official, int(official_id)) if official_id.isdigit() and len(official_id) < 10 else None
    if official is None:
        return _not_found(request, session, N_("No official has that number."))
    return official


@router.get("/officials", response_class=HTMLResponse)
def officials_page(request: Request, db: DbDep, session: SignedInDep) -> Response:
    if session.official.role != "admin":
        return _forbidden(request, session)
    everyone = list(db.scalars(select(Official).order_by(Official.name)))
    return _page(request, "officials.html", session, officials=everyone, done=None, secret=None)


@router.get("/officials/{official_id}/{action}", response_class=HTMLResponse)
def official_confirm(
    request: Request, official_id: str, action: str, db: DbDep, session: SignedInDep
) -> Response:
    official = _official_or_404(request, db, session, official_id)
    if isinstance(official, Response):
        return official
    if action not in _OFFICIAL_ACTIONS:
        return _not_found(request, session, N_("This page does not exist."))
    return _page(request, "official_confirm.html", session, official=official, action=action, error=None)


@router.post("/officials/{official_id}/{action}", response_class=HTMLResponse)
def official_action(
    request: Request,
    official_id: str,
    action: str,
    db: DbDep,
    state: StateDep,
    now: NowDep,
    session: SignedInDep,
    csrf: Annotated[str, Form()],
    password: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    _check_csrf(session, csrf)
    official = _official_or_404(request, db, session, official_id)
    if isinstance(official, Response):
        return official
    by, secret = session.official, None
    try:
        if action == "rotate-api-key":
            secret = officials.rotate_api_key(db=db, keys=state.keys, official=official, by=by, now=now)
        elif action == "reset-password":
            secret = officials.reset_password(
                db=db, official=official, by=by, now=now, password=password or None
            )
        elif action == "disable":
            officials.disable_official(db=db, official=official, by=by, now=now)
        elif action == "enable":
            officials.enable_official(db=db, official=official, by=by, now=now)
        else:
            return _not_found(request, session, N_("This page does not exist."))
    except ServerError as exc:
        error = {
            officials.LAST_ADMIN: N_(
                "This is the last enabled administrator: enable or create another first."
            )
        }
        message = error.get(exc.message, N_("A console password needs at least 12 characters."))
        return _page(
            request, "official_confirm.html", session, 400, official=official, action=action, error=message
        )
    listed = list(db.scalars(select(Official).order_by(Official.name)))
    return _page(
        request, "officials.html", session, officials=listed, done=action, subject=official, secret=secret
    )
