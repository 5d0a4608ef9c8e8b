"""The EMVCo/KHQR codec against the published conformance vectors, and property-based round trips."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nokor.payments import emvqr

# The shared folder sits beside the checkout (../shared from /work/main, ../../shared from a worktree).
VECTORS_FILE = next((folder / "shared" / "conformance" / "emv-qr-vectors.json"
                     for folder in Path(__file__).resolve().parents
                     if (folder / "shared" / "conformance" / "emv-qr-vectors.json").exists()),
                    Path(__file__).resolve().parents[3] / "shared" / "conformance" / "emv-qr-vectors.json")
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["vectors"]
POSITIVE = [v for v in VECTORS if v["kind"] == "positive"]
NEGATIVE = [v for v in VECTORS if v["kind"] == "negative"]
# The SDK error the vector names, from its description ("-> KHQR error 48", "-> ErrUPINotSupportUSD").
SDK_NAMES = {"ErrUPINotSupportUSD": 44}


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [f"{v['scheme']}:{v['description'][:40]}" for v in vectors]


def _expected_error(vector: dict[str, Any]) -> int:
    found = re.search(r"error (\d+)", vector["description"])
    if found:
        return int(found.group(1))
    name = re.search(r"-> (\w+)", vector["description"])
    assert name is not None, vector["description"]
    return SDK_NAMES[name.group(1)]


def _created(qr: emvqr.QrPayload) -> datetime | None:
    stamps = qr.object("99")
    created = stamps.child("00") if stamps else None
    return emvqr.epoch_ms_to_datetime(int(created)) if created and len(created) == 13 else None


def test_the_vector_file_has_both_kinds() -> None:
    assert len(POSITIVE) >= 20 and len(NEGATIVE) >= 6


class TestPositiveVectors:
    @pytest.mark.parametrize("vector", POSITIVE, ids=_ids(POSITIVE))
    def test_decodes_and_re_encodes_byte_identically(self, vector: dict[str, Any]) -> None:
        qr = emvqr.decode(vector["payload"])
        assert qr.crc == vector["crc"]
        assert len(qr.raw) == vector["length_chars"]
        assert len(qr.raw.encode("utf-8")) == vector["length_utf8_bytes"]
        assert emvqr.encode(qr.objects) == vector["payload"]

    @pytest.mark.parametrize("vector", POSITIVE, ids=_ids(POSITIVE))
    def test_passes_its_scheme_profile_at_creation_time(self, vector: dict[str, Any]) -> None:
        qr = emvqr.decode(vector["payload"])
        codes = [r.khqr_error for r in emvqr.validate(qr, at=_created(qr))]
        if "verify() fails it with error 45" in vector["description"]:
            assert codes == [45]
        else:
            assert codes == []

    @pytest.mark.parametrize("vector", [v for v in POSITIVE if v["structural_issues"]],
                             ids=_ids([v for v in POSITIVE if v["structural_issues"]]))
    def test_generic_emvco_names_the_structural_issues(self, vector: dict[str, Any]) -> None:
        rules = emvqr.validate(vector["payload"], scheme="EMVCo")
        missing = {f"missing {r.tag}" for r in rules if r.code == "missing_tag"}
        assert missing == set(vector["structural_issues"])

    def test_khqr_md5_is_the_one_bakong_uses(self) -> None:
        vector = POSITIVE[0]
        expected = re.search(r"md5=([0-9a-f]{32})", vector["description"])
        assert expected is not None
        assert emvqr.decode(vector["payload"]).md5 == expected.group(1)

    def test_khmer_name_length_counts_characters_not_bytes(self) -> None:
        vector = next(v for v in POSITIVE if "Khmer merchant name" in v["description"])
        assert emvqr.decode(vector["payload"]).get("59") == "ចន ស្មីន"


class TestNegativeVectors:
    @pytest.mark.parametrize("vector", NEGATIVE, ids=_ids(NEGATIVE))
    def test_refused_with_the_named_reason(self, vector: dict[str, Any]) -> None:
        rules = emvqr.validate(vector["payload"], at=datetime.now(UTC))
        assert _expected_error(vector) in {r.khqr_error for r in rules}
        for issue in vector["structural_issues"]:
            if issue == "01 not 11/12":
                assert "point_of_initiation" in {r.code for r in rules}

    def test_expired_qr_is_valid_before_its_expiry(self) -> None:
        vector = next(v for v in NEGATIVE if "time-dependent" in v["description"])
        qr = emvqr.decode(vector["payload"])
        assert emvqr.validate(qr, at=_created(qr)) == []
        assert [r.code for r in emvqr.validate(qr)] == ["khqr_expired"]


class TestBadInput:
    def test_bad_crc_is_refused_with_the_rule_named(self) -> None:
        payload = POSITIVE[0]["payload"][:-4] + "0000"
        with pytest.raises(emvqr.InvalidQr) as caught:
            emvqr.decode(payload)
        assert [r.code for r in caught.value.rules] == ["crc_mismatch"]

    def test_wrong_length_is_refused(self) -> None:
        payload = POSITIVE[0]["payload"].replace("5909Ishin Vin", "5919Ishin Vin", 1)
        rules = emvqr.validate(payload)
        assert rules[0].code == "tlv_length" and rules[0].tag == "59"

    def test_unknown_khqr_currency_is_refused(self) -> None:
        qr = emvqr.decode(POSITIVE[0]["payload"])
        objects = [emvqr.obj("53", "764") if o.tag == "53" else o for o in qr.objects]
        rules = emvqr.validate(emvqr.encode(objects), at=_created(qr))
        assert [(r.code, r.khqr_error) for r in rules] == [("khqr_currency", 28)]

    def test_fractional_riel_is_refused(self) -> None:
        qr = emvqr.decode(POSITIVE[0]["payload"])
        objects = [emvqr.obj("54", "100.5") if o.tag == "54" else o for o in qr.objects]
        assert "khqr_amount_precision" in {r.code for r in emvqr.validate(emvqr.encode(objects), at=_created(qr))}

    def test_missing_crc_and_garbage(self) -> None:
        assert emvqr.validate("000201")[0].code == "crc_missing"
        assert emvqr.validate("hello")[0].code == "tlv_malformed"
        assert emvqr.validate("")[0].code == "crc_missing"


class TestEncodeKhqr:
    def test_a_bill_qr_is_a_valid_dynamic_khqr(self) -> None:
        now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
        payload = emvqr.encode_khqr(emvqr.KhqrRequest(
            bakong_account_id="gdt_tax@nbcq", merchant_name="General Department of Taxation",
            currency="KHR", amount_minor=4_100_000, bill_number="20260000012", created_at=now,
            expires_at=now + timedelta(hours=24)))
        qr = emvqr.decode(payload)
        assert emvqr.validate(qr, at=now) == []
        assert qr.get("54") == "41000" and qr.amount_minor == 4_100_000 and qr.is_dynamic
        assert qr.get("59") == "General Department of Tax"
        assert emvqr.khqr_summary(qr)["bill_number"] == "20260000012"
        assert [r.code for r in emvqr.validate(qr, at=now + timedelta(days=2))] == ["khqr_expired"]

    def test_sen_cannot_go_into_a_khqr(self) -> None:
        with pytest.raises(ValueError, match="whole riel"):
            emvqr.encode_khqr(emvqr.KhqrRequest(bakong_account_id="a@b", merchant_name="X", amount_minor=150))


# --- property-based round trips -------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
_primitive_tags = st.sampled_from([f"{n:02d}" for n in (*range(0, 26), *range(52, 62), *range(65, 80))])
_template_tags = st.sampled_from([f"{n:02d}" for n in (*range(26, 52), 62, 64, *range(80, 100))])
# At most three children of 4 + 29 characters: a template's value holds 99 at most (the encoder refuses more).
_child = st.builds(emvqr.obj, st.sampled_from([f"{n:02d}" for n in range(100)]),
                   st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=29))
_template = st.builds(emvqr.obj, _template_tags, st.lists(_child, min_size=1, max_size=3))
_primitive = st.builds(emvqr.obj, _primitive_tags, _text.filter(lambda t: not t[:1].isdigit()))


class TestRoundTrips:
    @given(st.lists(st.one_of(_primitive, _template), max_size=8))
    def test_encode_decode_encode(self, objects: list[emvqr.DataObject]) -> None:
        payload = emvqr.encode(objects)
        decoded = emvqr.decode(payload)
        assert decoded.objects == tuple(objects)
        assert emvqr.encode(decoded.objects) == payload
        assert decoded.crc == emvqr.crc16(payload[:-4])

    @given(st.text(max_size=60))
    def test_decode_never_fails_unexpectedly(self, text: str) -> None:
        try:
            emvqr.decode(text)
        except emvqr.InvalidQr as exc:
            assert exc.rules

    @given(st.integers(min_value=1, max_value=10**9), st.sampled_from(["KHR", "USD"]))
    def test_khqr_amounts_survive(self, whole: int, currency: str) -> None:
        minor = whole * 100 if currency == "KHR" else whole
        now = datetime(2026, 1, 1, tzinfo=UTC)
        payload = emvqr.encode_khqr(emvqr.KhqrRequest(
            bakong_account_id="nokor@nbcq", merchant_name="Nokor", currency=currency, amount_minor=minor,
            created_at=now, expires_at=now + timedelta(minutes=10)))
        qr = emvqr.decode(payload)
        assert qr.amount_minor == minor and qr.currency == currency
        assert emvqr.validate(qr, at=now) == []
