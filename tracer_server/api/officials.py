"""Officials' API: issue verification codes (``X-API-Key``), as Google's verification server."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime

from fastapi import APIRouter

from tracer_server.api.deps import CurrentOfficial, DbDep, NowDep, StateDep
from tracer_server.middleware import response_padding
from tracer_server.schemas import IssueRequest, IssueResponse, error_responses
from tracer_server.services.codes import issue_code

router = APIRouter(prefix="/api", tags=["officials"])


def _http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


@router.post("/issue", response_model=IssueResponse, responses=error_responses(400, 401, 403, 413, 429))
def issue(
    body: IssueRequest, official: CurrentOfficial, db: DbDep, state: StateDep, now: NowDep
) -> IssueResponse:
    """Issue a one-time code for a case: a short code to dictate and a long code for a link."""
    state.issue_limiter.check(state.keys.digest(f"official:{official.id}"))
    tz = state.settings.default_tz_offset_minutes if body.tzOffset is None else body.tzOffset
    issued = issue_code(
        db=db,
        keys=state.keys,
        settings=state.settings,
        official=official,
        test_type=body.testType,
        symptom_date=body.symptomDate,
        test_date=body.testDate,
        tz_offset_minutes=tz,
        now=now,
    )
    return IssueResponse(
        uuid=issued.uuid,
        code=issued.code,
        expiresAt=_http_date(issued.expires_at),
        expiresAtTimestamp=int(issued.expires_at.timestamp()),
        longCode=issued.long_code,
        longExpiresAt=_http_date(issued.long_expires_at),
        longExpiresAtTimestamp=int(issued.long_expires_at.timestamp()),
        padding=response_padding(),
    )
