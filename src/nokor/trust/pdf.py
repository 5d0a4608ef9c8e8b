"""PAdES signatures on PDF files with pyHanko: B-LT (B-LTA on request) with a visible QR stamp.

This module knows PDFs and CMS, not the database: the service hands it keys, certificates and the
revocation data to embed, and gets back signed bytes or a plain account of each signature found.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko.stamp import QRStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from nokor.trust.keys import SigningKey, digest
from nokor.trust.tsa import NokorTimeStamper, TimestampAuthority, issue_token_der

# B-T (a timestamp, no revocation data) is not offered to users; tests use it to act as a key thief.
Level = Literal["B-T", "B-LT", "B-LTA"]
PDF_MAGIC = b"%PDF-"
_DUMMY_IMPRINT = tsp.MessageImprint({"hash_algorithm": {"algorithm": "sha512"}, "hashed_message": bytes(64)})


class NotAPdf(ValueError):
    """The bytes are not a PDF file at all."""


class DamagedPdf(ValueError):
    """The bytes start like a PDF but cannot be read (truncated, corrupted)."""


@lru_cache(maxsize=64)
def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    """The asn1crypto form of a certificate, made once: pyHanko only reads it, and parsing it anew for
    every signature was a good part of the time spent outside the signing itself."""
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


_timestampers: dict[tuple[str, tuple[x509.Certificate, ...]], NokorTimeStamper] = {}


def _timestamper(authority: TimestampAuthority) -> NokorTimeStamper:
    """One timestamp client per TSA key and chain, so that pyHanko's size estimate is made once."""
    slot = (authority.key.ref, authority.chain)
    found = _timestampers.get(slot)
    if found is None:
        if len(_timestampers) > 16:
            _timestampers.clear()
        found = _timestampers[slot] = NokorTimeStamper(authority)
    return found


class KeySigner(signers.Signer):
    """pyHanko's signer, backed by a ``SigningKey`` (key file or HSM alike)."""

    def __init__(self, key: SigningKey, chain: tuple[x509.Certificate, ...]) -> None:
        registry = SimpleCertificateStore.from_certs([_asn1(c) for c in chain])  # type: ignore[no-untyped-call]
        super().__init__(signing_cert=_asn1(chain[0]), cert_registry=registry, embed_roots=True)
        self.key = key

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        return self.key.sign_digest(digest(data, digest_algorithm), digest_algorithm)


@dataclass(frozen=True)
class ValidationMaterial:
    """The trust anchor and the revocation data (current CRLs) used to sign or check."""

    root: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    crls: tuple[bytes, ...] = ()

    def context(self, *, moment: datetime | None = None, for_signing: bool = False) -> ValidationContext:
        return ValidationContext(
            trust_roots=[_asn1(self.root)], other_certs=[_asn1(c) for c in self.intermediates],
            crls=list(self.crls) if for_signing else [], allow_fetching=False, moment=moment,
            # Signing must find revocation data to embed (B-LT); checking is done against Nokor's own
            # status table afterwards, at the time the timestamp proves.
            revocation_mode="hard-fail" if for_signing else "soft-fail",
        )


# Latin, Khmer and Arabic in one font (see fonts/README.md); the PDF embeds only the glyphs used.
STAMP_FONT = Path(__file__).with_name("fonts") / "NokorStampSans-Regular.ttf"


@lru_cache(maxsize=1)
def _stamp_font_bytes() -> bytes:
    return STAMP_FONT.read_bytes()


class _StampFont(GlyphAccumulator):
    """pyHanko's OpenType text engine, minus a needless cost: the embedded subset drops the layout tables
    (HarfBuzz has shaped the text already), yet fontTools decoded the large Khmer and Arabic ones before
    dropping them, which took most of the time of a seal. They are removed before subsetting."""

    def _extract_subset(self, options: Any = None) -> None:
        for tag in ("GSUB", "GPOS", "GDEF"):
            if tag in self.tt:
                del self.tt[tag]
        super()._extract_subset(options)


class _StampFontFactory(GlyphAccumulatorFactory):
    """The stamp font from memory (read once), not a file handle opened for every seal."""

    def create_font_engine(self, writer: Any, obj_stream: Any = None) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        return _StampFont(writer=writer, font_handle=io.BytesIO(_stamp_font_bytes()), font_size=self.font_size,
                          obj_stream=obj_stream)


@dataclass(frozen=True)
class StampText:
    """The lines of the visible stamp, each in one script (Latin, Khmer or Arabic): HarfBuzz shapes a
    line as a whole, and a right-to-left line holds no left-to-right words."""

    signer: str
    caption: str = "Digitally sealed"
    verify_hint: str = "Scan to verify"
    caption_en: str | None = None  # the English caption under one in another language

    def template(self) -> str:
        """pyHanko's stamp text, with its ``%(signer)s`` and ``%(ts)s`` fields."""
        lines = [self.caption, self.caption_en, None, None, self.verify_hint]
        texts = [line.replace("%", "%%") if line else line for line in lines]
        texts[2], texts[3] = "%(signer)s", "%(ts)s"
        return "\n".join(t for t in texts if t)


def sign_pdf(
    data: bytes,
    *,
    key: SigningKey,
    chain: tuple[x509.Certificate, ...],
    authority: TimestampAuthority,
    material: ValidationMaterial,
    verify_url: str,
    stamp: StampText,
    level: Level = "B-LT",
    reason: str | None = None,
    location: str | None = None,
) -> bytes:
    """The document with one more PAdES signature, timestamped by Nokor's TSA, with revocation data
    embedded (B-LT) and, for B-LTA, an archive timestamp over all of it."""
    reader_check(data)
    try:
        return _sign_once(data, key=key, chain=chain, authority=authority, material=material, verify_url=verify_url,
                          stamp=stamp, level=level, reason=reason, location=location,
                          reserved=signature_room(chain, authority))
    except _RoomTooSmall:
        # An unforeseen signature size: let pyHanko measure it with a dummy signature, as it does by default.
        return _sign_once(data, key=key, chain=chain, authority=authority, material=material, verify_url=verify_url,
                          stamp=stamp, level=level, reason=reason, location=location, reserved=None)


class _RoomTooSmall(Exception):
    """The room reserved for the signature container was too small."""


def _sign_once(data: bytes, *, key: SigningKey, chain: tuple[x509.Certificate, ...], authority: TimestampAuthority,
               material: ValidationMaterial, verify_url: str, stamp: StampText, level: Level, reason: str | None,
               location: str | None, reserved: int | None) -> bytes:
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    except (PdfError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise DamagedPdf(str(exc)) from exc
    existing = _count_signature_fields(writer)
    field_name = f"NokorSeal{existing + 1}"
    page_box = _first_page_box(writer)
    width = 250.0
    x1 = max(page_box[2] - width - 36, 10)
    y1 = 36 + existing * 100
    meta = PdfSignatureMetadata(
        field_name=field_name, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        embed_validation_info=level != "B-T", use_pades_lta=level == "B-LTA",
        validation_context=material.context(for_signing=True) if level != "B-T" else None,
        reason=reason, location=location, name=stamp.signer,
    )
    style = QRStampStyle(
        stamp_text=stamp.template(), border_width=1, timestamp_format="%Y-%m-%d %H:%M:%S UTC",
        text_box_style=TextBoxStyle(font=_StampFontFactory(str(STAMP_FONT)), font_size=9, leading=12),
    )
    pdf_signer = PdfSigner(
        meta, signer=KeySigner(key, chain), timestamper=_timestamper(authority), stamp_style=style,
        new_field_spec=fields.SigFieldSpec(field_name, on_page=0,
                                           box=(int(x1), y1, int(x1 + width), y1 + 90)),
    )
    out = io.BytesIO()
    try:
        pdf_signer.sign_pdf(writer, output=out, appearance_text_params={"url": verify_url, "signer": stamp.signer},
                            bytes_reserved=reserved)
    except SigningError as exc:
        if reserved is not None and "larger than expected" in str(exc):
            raise _RoomTooSmall from exc
        raise DamagedPdf(str(exc)) from exc
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise DamagedPdf(str(exc)) from exc
    return out.getvalue()


def signature_room(chain: tuple[x509.Certificate, ...], authority: TimestampAuthority) -> int:
    """Hex digits to reserve for the CMS signature container.

    Left to itself pyHanko finds this out by building a whole dummy signature first (a quarter of the
    time of a seal). The container holds the signer's chain, a timestamp token with the TSA's chain,
    and signed attributes and a signature of well under 2 KiB; with pyHanko's own 50 % margin.
    """
    certificates = sum(len(c.public_bytes(serialization.Encoding.DER)) for c in chain)
    token = len(issue_token_der(authority, _DUMMY_IMPRINT, nonce=2**64, include_certs=True))
    size = 2 * (certificates + token + 2048)
    return size + 2 * (size // 4)


def reader_check(data: bytes) -> None:
    """Refuse what is not a PDF before any parser sees it."""
    if not data.lstrip()[:1024].startswith(PDF_MAGIC) and PDF_MAGIC not in data[:1024]:
        raise NotAPdf("the file does not start with %PDF-")
    if b"%%EOF" not in data[-2048:]:
        raise DamagedPdf("the file has no end-of-file marker; it was probably cut short")


def _count_signature_fields(writer: IncrementalPdfFileWriter) -> int:
    try:
        return sum(1 for _ in fields.enumerate_sig_fields(writer.prev))
    except (PdfError, KeyError, TypeError):
        return 0


def _first_page_box(writer: IncrementalPdfFileWriter) -> tuple[float, float, float, float]:
    try:
        page = writer.root["/Pages"]["/Kids"][0].get_object()
        box = [float(v) for v in page["/MediaBox"]]
        return box[0], box[1], box[2], box[3]
    except (PdfError, KeyError, IndexError, TypeError, ValueError):
        return 0.0, 0.0, 595.0, 842.0


# --- validation -------------------------------------------------------------------------------


@dataclass
class FoundSignature:
    """What pyHanko found out about one signature, before Nokor's own revocation rules apply."""

    field_name: str
    kind: Literal["signature", "document_timestamp"]
    signer_cert: x509.Certificate | None
    signer_name: str
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_file: bool
    modified_after: bool
    claimed_time: datetime | None
    timestamp_time: datetime | None
    timestamp_ok: bool
    problem: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _signer_name(cert: asn1_x509.Certificate | None) -> str:
    if cert is None:
        return ""
    subject = cert.subject.native
    return str(subject.get("common_name") or subject.get("organization_name") or cert.subject.human_friendly)


def _cryptography_cert(cert: asn1_x509.Certificate | None) -> x509.Certificate | None:
    return x509.load_der_x509_certificate(cert.dump()) if cert is not None else None


def _embedded_timestamp_time(sig: Any) -> datetime | None:
    try:
        token = sig.attached_timestamp_data
    except (AttributeError, KeyError, ValueError):
        return None
    if token is None:
        return None
    try:
        moment: datetime = token["content"]["encap_content_info"]["content"].parsed["gen_time"].native
    except (KeyError, ValueError, AttributeError):
        return None
    return moment


def examine_pdf(data: bytes, *, material: ValidationMaterial) -> list[FoundSignature]:
    """Every signature and document timestamp in the file, checked for integrity and for a chain to
    Nokor's root at the time its timestamp proves (or now, without one)."""
    reader_check(data)
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise DamagedPdf(str(exc)) from exc
    found: list[FoundSignature] = []
    for sig in embedded:
        try:
            found.append(_examine_one(sig, material))
        except (PdfError, ValueError, KeyError, IndexError, TypeError, AttributeError, SigningError) as exc:
            found.append(FoundSignature(
                field_name=str(getattr(sig, "field_name", "?")), kind="signature", signer_cert=None, signer_name="",
                intact=False, valid=False, trusted=False, covers_whole_file=False, modified_after=False,
                claimed_time=None, timestamp_time=None, timestamp_ok=False, problem=f"unreadable: {exc}"))
    return found


def _examine_one(sig: Any, material: ValidationMaterial) -> FoundSignature:
    is_doc_ts = sig.sig_object_type == "/DocTimeStamp"
    if is_doc_ts:
        ts_status = validate_pdf_timestamp(sig, validation_context=material.context())
        return FoundSignature(
            field_name=sig.field_name, kind="document_timestamp",
            signer_cert=_cryptography_cert(ts_status.signing_cert),
            signer_name=_signer_name(ts_status.signing_cert), intact=ts_status.intact, valid=ts_status.valid,
            trusted=ts_status.trusted, covers_whole_file=ts_status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
            modified_after=False, claimed_time=ts_status.timestamp, timestamp_time=ts_status.timestamp,
            timestamp_ok=ts_status.valid and ts_status.trusted)
    moment = _embedded_timestamp_time(sig)
    status = validate_pdf_signature(sig, signer_validation_context=material.context(moment=moment),
                                    ts_validation_context=material.context(moment=moment))
    ts = status.timestamp_validity
    coverage = status.coverage
    whole = coverage == SignatureCoverageLevel.ENTIRE_FILE
    # Later revisions are fine when they only add signatures, timestamps or revocation data (LTV).
    allowed_later = (coverage == SignatureCoverageLevel.ENTIRE_REVISION and status.modification_level is not None
                     and status.modification_level <= ModificationLevel.FORM_FILLING and status.docmdp_ok is not False)
    return FoundSignature(
        field_name=sig.field_name, kind="signature", signer_cert=_cryptography_cert(status.signing_cert),
        signer_name=_signer_name(status.signing_cert), intact=status.intact, valid=status.valid,
        trusted=status.trusted, covers_whole_file=whole or allowed_later, modified_after=not (whole or allowed_later),
        claimed_time=status.signer_reported_dt, timestamp_time=ts.timestamp if ts is not None else None,
        timestamp_ok=bool(ts is not None and ts.valid and ts.intact and ts.trusted),
    )


def simple_pdf(lines: list[str], *, title: str = "Document") -> bytes:
    """A one-page A4 PDF with a few lines of Latin text (test fixtures, benchmarks, the demo)."""
    def esc(text: str) -> str:
        latin = text.encode("latin-1", "replace").decode("latin-1")
        return latin.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream_lines = ["BT", "/F1 18 Tf", "72 770 Td", f"({esc(title)}) Tj", "/F1 11 Tf"]
    for line in lines:
        stream_lines += ["0 -20 Td", f"({esc(line)}) Tj"]
    stream_lines.append("ET")
    stream = "\n".join(stream_lines).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()
