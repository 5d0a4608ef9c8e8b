"""The demo country's payments: a fee schedule of real Cambodian services, cashier roles and a few bills.

The prices are demo figures in the order of the real ones, not an official tariff.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from nokor import accounts
from nokor.kit.actor import Actor
from nokor.payments import repository, service
from nokor.payments.schemas import BillCreate, FeeCreate

FEES: list[tuple[str, str, str, str, str, dict[str, str]]] = [
    ("PASSPORT-ORD", "MOI-GDI", "100", "USD", "gdi_passport@nbcq",
     {"km": "លិខិតឆ្លងដែនធម្មតា", "en": "Ordinary passport", "ar": "جواز سفر عادي", "de": "Gewöhnlicher Reisepass"}),
    ("NID-REPLACE", "MOI-GDI", "8000", "KHR", "gdi_fees@nbcq",
     {"km": "ការចេញអត្តសញ្ញាណប័ណ្ណសញ្ជាតិខ្មែរជំនួស", "en": "Replacement Khmer national ID card",
      "ar": "بدل بطاقة الهوية الوطنية الخميرية", "de": "Ersatz des khmerischen Personalausweises"}),
    ("BIRTH-COPY", "MOI-PNH", "4000", "KHR", "pnh_civil@nbcq",
     {"km": "ច្បាប់ចម្លងសំបុត្រកំណើត", "en": "Certified copy of a birth certificate",
      "ar": "نسخة مصدقة من شهادة الميلاد", "de": "Beglaubigte Abschrift der Geburtsurkunde"}),
    ("PATENT-SMALL", "MEF", "400000", "KHR", "gdt_patent@nbcq",
     {"km": "ពន្ធប៉ាតង់សម្រាប់អ្នកជាប់ពន្ធតូច", "en": "Patent tax, small taxpayer",
      "ar": "ضريبة الرخصة المهنية للمكلفين الصغار", "de": "Gewerbesteuer für Kleinsteuerpflichtige"}),
    ("HEALTH-CERT", "MOH", "20000", "KHR", "moh_fees@nbcq",
     {"km": "វិញ្ញាបនបត្រសុខភាព", "en": "Health certificate", "ar": "شهادة صحية", "de": "Gesundheitszeugnis"}),
]
ROLES: list[tuple[str, dict[str, str], list[str]]] = [
    ("cashier", {"km": "បេឡាករ", "en": "Cashier", "ar": "أمين الصندوق", "de": "Kassierer"},
     ["payments.manage", "payments.read", "payments.refund", "payments.review"]),
    ("payments_supervisor", {"km": "អ្នកត្រួតពិនិត្យការទូទាត់", "en": "Payments supervisor",
                             "ar": "مشرف المدفوعات", "de": "Zahlungsaufsicht"},
     ["payments.read", "payments.approve_refund", "payments.review"]),
]
OFFICERS: list[tuple[str, str, str, str, str]] = [
    ("cashier.gdi", "ហេង សុខា", "MOI-GDI", "cashier", "Angkor-Wat-2026-demo"),
    ("supervisor.gdi", "Jonas Petrauskas", "MOI-GDI", "payments_supervisor", "Vilnius-Bridge-2026-demo"),
]
BILLS: list[tuple[str, str]] = [("NID-REPLACE", "សុខ ដារា"), ("BIRTH-COPY", "Mariam Farouk"),
                                ("PASSPORT-ORD", "Kim Min-jun")]


def load_demo(session: Session) -> list[str]:
    """Create the fee schedule, the cashier roles and officers, and a few open bills; returns lines to print."""
    actor = Actor.system("demo")
    lines: list[str] = []
    units = {u.code for u in accounts.list_org_units(session, actor)}
    for code, unit, amount, currency, account, name in FEES:
        if unit in units and repository.fee_by_code(session, code) is None:
            service.create_fee(session, actor, data=FeeCreate(code=code, name=name, amount=amount, currency=currency,
                                                              org_unit_code=unit, bakong_account_id=account))
    lines += accounts.demo_staff(session, actor, roles=ROLES, officers=OFFICERS)
    if not service.list_bills(session, actor, limit=1).items:
        for fee_code, payer in BILLS:
            if repository.fee_by_code(session, fee_code) is not None:
                bill = service.issue_bill(session, actor, data=BillCreate(fee_code=fee_code, payer_name=payer))
                lines.append(f"bill {bill.number} ({fee_code}): /pay/{bill.number}")
    return lines
