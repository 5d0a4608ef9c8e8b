"""The OIDC authorization endpoint as a person meets it: sign in if needed, then the consent page."""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from nokor import trust
from nokor.identity import oidc, repository, service
from nokor.identity.api import oauth_request, oauth_response, rules_of
from nokor.identity.deps import CitizenForm, MaybeCitizen
from nokor.identity.schemas import ATTRIBUTES
from nokor.kit.i18n import gettext as _
from nokor.web import render
from nokor.web.deps import DbSession
from nokor.web.middleware import CSP

router = APIRouter(include_in_schema=False)
OAUTH_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
                "code_challenge_method", "prompt", "ui_locales", "max_age")


def attribute_label(name: str) -> str:
    return {"name": _("Full name"), "given_name": _("Given name"), "family_name": _("Family name"),
            "birthdate": _("Date of birth"), "gender": _("Sex"), "address": _("Address"),
            "phone_number": _("Mobile number"), "email": _("E-mail address"),
            "individual_id": _("National ID number")}.get(name, name)


def _error_page(request: Request, error: OAuth2Error) -> Response:
    return render(request, "identity/oauth_error.html", {"error": error.error, "description": error.description},
                  status_code=400, headers={"Cache-Control": "no-store"})


def _refuse(request: Request, session: DbSession, error: OAuth2Error, client_id: str | None) -> Response:
    """A refused authorization request: back to the relying party with the error when its redirect URI is known
    to be right, otherwise an error page (never a redirect to an unregistered address)."""
    oidc.record_refusal(session, client_id=client_id, error=error.error, description=error.description, detail=None,
                        endpoint="authorize")
    if error.redirect_uri:
        params = {"error": error.error, "error_description": error.description or ""}
        if error.state:
            params["state"] = error.state
        separator = "&" if "?" in error.redirect_uri else "?"
        return RedirectResponse(error.redirect_uri + separator + urlencode(params), status_code=302)
    return _error_page(request, error)


@router.get("/authorize")
def authorize(request: Request, session: DbSession, citizen: MaybeCitizen) -> Response:
    provider = oidc.Provider(session, rules=rules_of(request), ring=trust.key_ring(request.app.state.settings))
    oauth = oauth_request(request)
    user = oidc.EndUser(resident_id=citizen.resident_id, auth_time=0, methods=citizen.methods) if citizen else None
    if not oauth.payload.data.get("redirect_uri"):
        return _refuse(request, session, InvalidRequestError("redirect_uri is required."),
                       oauth.payload.client_id)
    try:
        grant = provider.get_consent_grant(oauth, end_user=user)
    except OAuth2Error as error:
        return _refuse(request, session, error, oauth.payload.client_id)
    if citizen is None:
        target = request.url.path + "?" + request.url.query
        return RedirectResponse("/my/login?next=" + quote(target, safe=""), status_code=303)
    party = repository.relying_party(session, grant.client.get_client_id())
    assert party is not None
    wanted = service.scope_claims(grant.request.scope or "")
    agreements = [a for a in service.list_agreements(session, client_id=party.client_id)
                  if set(a.attributes) & wanted]
    consented, _codes = service.consented_attributes(session, resident_id=citizen.resident_id,
                                                     client_id=party.client_id)
    params = {k: v for k, v in oauth.payload.data.items() if k in OAUTH_PARAMS}
    # The answer to this form is a redirect to the relying party: its address must be an allowed form action.
    back = urlsplit(params["redirect_uri"])
    csp = CSP.replace("form-action 'self'", f"form-action 'self' {back.scheme}://{back.netloc}")
    return render(request, "identity/consent.html", {
        "party": party, "agreements": agreements, "wanted": sorted(wanted), "consented": consented,
        "params": params, "attribute_label": attribute_label, "all_attributes": ATTRIBUTES,
    }, headers={"Cache-Control": "no-store", "Content-Security-Policy": csp})


@router.post("/authorize")
def decide(request: Request, session: DbSession, citizen: MaybeCitizen, form: CitizenForm) -> Response:
    assert citizen is not None
    provider = oidc.Provider(session, rules=rules_of(request), ring=trust.key_ring(request.app.state.settings))
    fields = [(k, v) for k, v in form.multi_items() if k in OAUTH_PARAMS and isinstance(v, str)]
    oauth = oidc.Request(method="GET", uri=request.app.state.settings.base_url.rstrip("/") + "/authorize",
                         headers=request.headers, query=fields, form=[])
    user = oidc.EndUser(resident_id=citizen.resident_id, auth_time=service.session_started_at(session, citizen),
                        methods=citizen.methods)
    try:
        grant = provider.get_consent_grant(oauth, end_user=user)
    except OAuth2Error as error:
        return _refuse(request, session, error, oauth.payload.client_id)
    allowed = form.get("decision") == "allow"
    if allowed:
        party_id = grant.client.get_client_id()
        chosen = {str(v) for v in form.getlist("agreement")}
        for agreement in service.list_agreements(session, client_id=party_id):
            if str(agreement.id) in chosen:
                service.give_consent(session, citizen, agreement_id=agreement.id)
    response = provider.create_authorization_response(oauth, grant_user=user if allowed else None, grant=grant)
    return oauth_response(*response)
