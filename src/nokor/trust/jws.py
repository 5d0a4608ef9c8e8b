"""JSON Web Signatures (RFC 7515): compact and detached (RFC 7515 appendix F), ES256/ES384 only.

The header carries ``kid`` (the certificate serial in hex), ``x5c`` (the certificate chain) and
``sigT``, the signing time as JAdES writes it. Signing goes through ``SigningKey`` so HSM keys work;
checking uses joserfc, an independent implementation, with an explicit list of allowed algorithms.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.registry import HeaderParameter

from nokor.trust.keys import HASH_FOR_CURVE, SigningKey, der_to_raw_ecdsa, sign_data

ALGORITHM_FOR_CURVE = {"secp256r1": "ES256", "secp384r1": "ES384"}
ALLOWED_ALGORITHMS = ("ES256", "ES384")




class _Registry(jws.JWSRegistry):
    # Room for an x5c chain of two certificates in the protected header.
    max_header_length = 8192


def _registry(algorithm: str) -> jws.JWSRegistry:
    return _Registry(header_registry={"sigT": HeaderParameter("Signing time (JAdES)", "str")},
                     algorithms=[algorithm])


class JwsFormatError(ValueError):
    """The text is not a compact JWS, or its header cannot be read."""


class JwsRejected(ValueError):
    """The JWS is well formed but does not hold: ``code`` says why (wrong_algorithm, bad_signature, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_compact(payload: bytes, *, key: SigningKey, chain: tuple[x509.Certificate, ...], kid: str,
                 signed_at: datetime, detached: bool = False, extra_header: dict[str, Any] | None = None) -> str:
    """A compact JWS over ``payload``; with ``detached`` the payload part is left empty."""
    header: dict[str, Any] = {
        "alg": ALGORITHM_FOR_CURVE[key.curve],
        "kid": kid,
        "x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain],
        "sigT": signed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **(extra_header or {}),
    }
    protected = b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
    encoded_payload = b64url(payload)
    signing_input = f"{protected}.{encoded_payload}".encode()
    signature = der_to_raw_ecdsa(sign_data(key, signing_input, HASH_FOR_CURVE[key.curve]), key.curve)
    return f"{protected}.{'' if detached else encoded_payload}.{b64url(signature)}"


def sign_jwt(claims: dict[str, Any], *, key: SigningKey, kid: str) -> str:
    """A compact JWT with the smallest header (``alg``, ``kid``, ``typ``), so every JOSE library reads it; the
    receiver finds the key (and its certificate chain) by ``kid`` in the published JWKS."""
    header = {"alg": ALGORITHM_FOR_CURVE[key.curve], "kid": kid, "typ": "JWT"}
    protected = b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    signing_input = f"{protected}.{payload}".encode()
    signature = der_to_raw_ecdsa(sign_data(key, signing_input, HASH_FOR_CURVE[key.curve]), key.curve)
    return f"{protected}.{payload}.{b64url(signature)}"


@dataclass(frozen=True)
class ParsedJws:
    header: dict[str, Any]
    payload: bytes | None
    detached: bool
    chain: tuple[x509.Certificate, ...]


def parse_compact(token: str) -> ParsedJws:
    """The header, payload and embedded chain of a compact JWS, before any signature check."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise JwsFormatError("a compact JWS has three parts separated by dots")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = b64url_decode(parts[1]) if parts[1] else None
        b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwsFormatError("the JWS is not valid base64url JSON") from exc
    if not isinstance(header, dict):
        raise JwsFormatError("the JWS header is not a JSON object")
    chain: list[x509.Certificate] = []
    x5c = header.get("x5c") or []
    if not isinstance(x5c, list):
        raise JwsFormatError("x5c must be a list of certificates")
    for item in x5c:
        try:
            chain.append(x509.load_der_x509_certificate(base64.b64decode(str(item), validate=True)))
        except ValueError as exc:
            raise JwsFormatError("a certificate in x5c cannot be read") from exc
    return ParsedJws(header=header, payload=payload, detached=not parts[1], chain=tuple(chain))


def verify_compact(token: str, *, public_key: ec.EllipticCurvePublicKey, payload: bytes | None = None) -> bytes:
    """Check the signature with joserfc; returns the payload that was signed."""
    parsed = parse_compact(token)
    algorithm = parsed.header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise JwsRejected("wrong_algorithm", f"algorithm {algorithm!r} is not accepted; use ES256 or ES384")
    expected = ALGORITHM_FOR_CURVE.get(public_key.curve.name)
    if algorithm != expected:
        raise JwsRejected("wrong_algorithm", f"algorithm {algorithm} does not match the key, which needs {expected}")
    if parsed.detached and payload is None:
        raise JwsRejected("payload_missing", "this is a detached JWS: the signed content must be given with it")
    try:
        jwk = ECKey.import_key(public_key)
        result = jws.deserialize_compact(token.strip(), jwk, algorithms=[str(algorithm)],
                                         registry=_registry(str(algorithm)),
                                         payload=payload if parsed.detached else None)
    except JoseError as exc:
        raise JwsRejected("bad_signature", "the signature does not match the content") from exc
    except ValueError as exc:
        raise JwsRejected("bad_signature", f"the signature cannot be checked: {exc}") from exc
    return bytes(result.payload)
