"""Citizen pages: sign-in with the national identity and "My data". Uses other domains' public functions only.

Other domains' citizen pages take the signed-in resident with ``nokor.identity.CurrentCitizen``.
"""

from nokor.portal.views import router

__all__ = ["router"]
