"""Pages of the audit domain: the audit trail and the personal-data access log."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nokor.audit import service
from nokor.web import render
from nokor.web.deps import DbSession, OfficerActor

router = APIRouter(include_in_schema=False)


@router.get("/admin/audit")
def audit_page(
    request: Request,
    session: DbSession,
    actor: OfficerActor,
    category: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    cursor: str | None = None,
) -> Response:
    category = category if category in ("change", "access") else None
    page = service.list_entries(
        session, actor, category=category, subject_type=(subject_type or "").strip()[:64] or None,
        subject_id=(subject_id or "").strip()[:128] or None, cursor=cursor,
    )
    filters = {"category": category or "", "subject_type": subject_type or "", "subject_id": subject_id or ""}
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(request, "audit/entries.html", {"page": page, "filters": filters, "query": query})
