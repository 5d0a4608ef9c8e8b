"""Back-office pages: outgoing messages and dead letters."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from nokor.backoffice import service
from nokor.kit.i18n import gettext as _
from nokor.web import flash, render
from nokor.web.deps import DbSession, OfficerActor, OfficerForm

router = APIRouter(include_in_schema=False)
STATUSES = ("pending", "delivered", "dead")


@router.get("/admin/outbox")
def outbox_page(
    request: Request, session: DbSession, actor: OfficerActor, status: str | None = None, cursor: str | None = None
) -> Response:
    status = status if status in STATUSES else None
    page = service.list_outgoing_messages(session, actor, status=status, cursor=cursor)
    return render(request, "backoffice/outbox.html", {"page": page, "status": status or ""})


@router.post("/admin/outbox/{message_id}/retry")
def retry_message(
    request: Request, session: DbSession, actor: OfficerActor, message_id: uuid.UUID, form: OfficerForm
) -> Response:
    reason = form.get("reason")
    service.retry_dead_letter(session, actor, message_id=message_id,
                              reason=reason.strip() if isinstance(reason, str) and reason.strip() else None)
    flash(request, _("The message is queued to be sent again."))
    return RedirectResponse("/admin/outbox?status=dead", status_code=303)
