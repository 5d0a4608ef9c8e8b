"""Payment providers Nokor asks about payments: a Bakong-style API (status by MD5, batch checks).

The sandbox bank answers the same API, so the client is tested against it over real HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from nokor.payments.emvqr import epoch_ms_to_datetime

BATCH_LIMIT = 50  # Bakong's check_transaction_by_md5_list takes at most 50 hashes


@dataclass(frozen=True)
class ProviderTransaction:
    """What a provider knows of the payment of one QR (by its MD5)."""

    md5: str
    found: bool
    transaction_ref: str | None = None
    amount: str | None = None
    currency: str | None = None
    from_account: str | None = None
    to_account: str | None = None
    acknowledged_at: datetime | None = None


class PaymentProvider(Protocol):
    """A provider Nokor can ask whether a QR was paid."""

    name: str

    def check_by_md5(self, md5: str) -> ProviderTransaction: ...

    def check_by_md5_list(self, md5s: list[str]) -> list[ProviderTransaction]: ...


class ProviderUnavailable(Exception):
    """The provider did not answer, or answered something unreadable."""


def _transaction(md5: str, data: dict[str, Any] | None) -> ProviderTransaction:
    if not data:
        return ProviderTransaction(md5=md5, found=False)
    acknowledged = data.get("acknowledgedDateMs")
    amount = data.get("amountText") or data.get("amount")
    return ProviderTransaction(
        md5=md5, found=True, transaction_ref=str(data.get("externalRef") or data.get("hash") or ""),
        amount=None if amount is None else str(amount), currency=data.get("currency"),
        from_account=data.get("fromAccountId"), to_account=data.get("toAccountId"),
        acknowledged_at=epoch_ms_to_datetime(int(acknowledged)) if acknowledged else None)


class BakongClient:
    """A client of a Bakong-style open API, configured by its base URL (and a bearer token)."""

    name = "bakong"

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                    transport=transport)

    def _post(self, path: str, body: Any) -> dict[str, Any]:
        try:
            response = self._client.post(path, json=body)
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(str(exc)) from exc
        if not isinstance(answer, dict):
            raise ProviderUnavailable("the provider's answer is not a JSON object")
        return answer

    def check_by_md5(self, md5: str) -> ProviderTransaction:
        answer = self._post("/v1/check_transaction_by_md5", {"md5": md5})
        return _transaction(md5, answer.get("data") if answer.get("responseCode") == 0 else None)

    def check_by_md5_list(self, md5s: list[str]) -> list[ProviderTransaction]:
        found: list[ProviderTransaction] = []
        for start in range(0, len(md5s), BATCH_LIMIT):
            answer = self._post("/v1/check_transaction_by_md5_list", md5s[start : start + BATCH_LIMIT])
            for item in answer.get("data") or []:
                data = item.get("data") if item.get("status") == "SUCCESS" else None
                found.append(_transaction(str(item.get("md5")), data))
        return found

    def close(self) -> None:
        self._client.close()
