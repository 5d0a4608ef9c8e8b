"""Payments: government fees paid by QR code (KHQR/EMVCo), bills, providers, ledger, reconciliation.

Other domains use only what is listed here.
"""

from nokor.payments.emvqr import BrokenRule, InvalidQr, QrPayload, decode, encode, validate

__all__ = ["BrokenRule", "InvalidQr", "QrPayload", "decode", "encode", "validate"]
