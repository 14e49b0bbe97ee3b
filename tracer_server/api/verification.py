"""Devices' verification API: code → token → certificate. Anonymous and rate-limited."""

from __future__ import annotations

from fastapi import APIRouter

from tracer_server.api.deps import ClientId, DbDep, NowDep, StateDep
from tracer_server.middleware import response_padding
from tracer_server.schemas import (
    ActivityRequest,
    ActivityResponse,
    CertificateRequest,
    CertificateResponse,
    VerifyRequest,
    VerifyResponse,
    error_responses,
)
from tracer_server.services.adoption import record_activity
from tracer_server.services.certificates import issue_certificate
from tracer_server.services.codes import redeem_code

router = APIRouter(prefix="/api", tags=["devices"])


@router.post(
    "/verify",
    response_model=VerifyResponse,
    response_model_exclude_none=True,
    responses=error_responses(400, 412, 413, 429),
)
def verify(body: VerifyRequest, db: DbDep, state: StateDep, now: NowDep, client: ClientId) -> VerifyResponse:
    """Redeem a code (once) for a verification token."""
    state.limiter.check(client)
    redeemed = redeem_code(
        db=db, keys=state.keys, settings=state.settings, code=body.code, accept=body.accept, now=now
    )
    return VerifyResponse(
        testtype=redeemed.test_type,
        symptomDate=redeemed.symptom_date.isoformat() if redeemed.symptom_date else None,
        testDate=redeemed.test_date.isoformat() if redeemed.test_date else None,
        token=redeemed.token,
        padding=response_padding(),
    )


@router.post("/certificate", response_model=CertificateResponse, responses=error_responses(400, 413, 429))
def certificate(
    body: CertificateRequest, db: DbDep, state: StateDep, now: NowDep, client: ClientId
) -> CertificateResponse:
    """Exchange a token and the HMAC of the keys to upload for a certificate bound to them."""
    state.limiter.check(client)
    cert = issue_certificate(
        db=db, keys=state.keys, settings=state.settings, token=body.token, ekeyhmac=body.ekeyhmac, now=now
    )
    return CertificateResponse(certificate=cert, padding=response_padding())


@router.post("/user-activity", response_model=ActivityResponse, responses=error_responses(400, 413, 429))
def user_activity(
    body: ActivityRequest, db: DbDep, state: StateDep, now: NowDep, client: ClientId
) -> ActivityResponse:
    """One anonymous "active today" signal for a district (opt-in on the device; chaff-capable).

    Only the count for (district, UTC day) changes; nothing about the sender is kept.
    """
    state.activity_limiter.check(client)
    record_activity(db, body.district, now)
    return ActivityResponse(padding=response_padding())
