"""The demo country's e-services: a certified copy of a birth certificate (with a fee paid by KHQR),
registering a small business (an SME registry record and a sealed certificate, four eyes) and reporting a
change of address (a civil event for the registrars); service officers and supervisors; a consultation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from nokor import accounts, payments
from nokor.kit.actor import Actor
from nokor.kit.time import utcnow
from nokor.services import repository, service
from nokor.services.effects import PROVINCES
from nokor.services.schemas import ConsultationCreate, DocumentRequirement, ServiceCreate

NIN_PATTERN = "^[0-9]{9,12}$"
NIN_MESSAGE = {"en": "A national ID number has 9 to 12 digits.", "km": "លេខអត្តសញ្ញាណប័ណ្ណមាន ៩ ដល់ ១២ ខ្ទង់។",
               "ar": "يتكون الرقم الوطني من 9 إلى 12 رقمًا.", "de": "Eine Ausweisnummer hat 9 bis 12 Ziffern."}
# The SME register (version 2.0) names an owner by the 12-digit national ID number or an old card's 9 digits.
OWNER_ID_PATTERN = "^([0-9]{12}|[0-9]{9})$"
OWNER_ID_MESSAGE = {
    "en": "A national ID number has 12 digits; the number of an old identity card has 9.",
    "km": "លេខអត្តសញ្ញាណកម្មជាតិមាន ១២ ខ្ទង់ ហើយលេខអត្តសញ្ញាណប័ណ្ណចាស់មាន ៩ ខ្ទង់។",
    "ar": "يتكون الرقم الوطني من 12 رقمًا، ورقم بطاقة الهوية القديمة من 9 أرقام.",
    "de": "Eine nationale Identifikationsnummer hat 12 Ziffern, die Nummer eines alten Ausweises 9."}
NIN_LABEL = {"en": "National ID number", "km": "លេខអត្តសញ្ញាណប័ណ្ណ", "ar": "الرقم الوطني", "de": "Ausweisnummer"}
ID_CARD = DocumentRequirement(code="id_card", required=True, label={
    "en": "Your national ID card (photo or scan)", "km": "អត្តសញ្ញាណប័ណ្ណរបស់អ្នក (រូបថត ឬស្កេន)",
    "ar": "بطاقة هويتك الوطنية (صورة أو مسح ضوئي)", "de": "Ihr Personalausweis (Foto oder Scan)"})

BIRTH_COPY_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["national_id", "relation"],
    "properties": {
        "national_id": {"type": "string", "pattern": NIN_PATTERN, "x-pattern-message": NIN_MESSAGE,
                        "x-label": {"en": "National ID number of the person born",
                                    "km": "លេខអត្តសញ្ញាណប័ណ្ណរបស់អ្នកកើត", "ar": "الرقم الوطني للمولود",
                                    "de": "Ausweisnummer der geborenen Person"},
                        "x-hint": {"en": "12 digits, on the ID card or the first birth certificate.",
                                   "km": "១២ ខ្ទង់ នៅលើអត្តសញ្ញាណប័ណ្ណ ឬសំបុត្រកំណើតដើម។",
                                   "ar": "12 رقمًا، على بطاقة الهوية أو شهادة الميلاد الأولى.",
                                   "de": "12 Ziffern, auf dem Ausweis oder der ersten Geburtsurkunde."}},
        "relation": {"type": "string", "enum": ["self", "child", "parent", "other"],
                     "x-label": {"en": "Whose certificate is it?", "km": "សំបុត្រនេះជារបស់អ្នកណា?",
                                 "ar": "لمن هذه الشهادة؟", "de": "Wessen Urkunde ist es?"},
                     "x-enum-labels": {
                         "self": {"en": "Mine", "km": "របស់ខ្ញុំ", "ar": "شهادتي", "de": "Meine"},
                         "child": {"en": "My child's", "km": "របស់កូនខ្ញុំ", "ar": "شهادة طفلي", "de": "Die "
                                                                                                       "meines Kindes"},
                         "parent": {"en": "My parent's", "km": "របស់ឪពុកម្ដាយខ្ញុំ", "ar": "شهادة أحد والدي",
                                    "de": "Die eines Elternteils"},
                         "other": {"en": "Someone else's (with their consent)", "km": "របស់អ្នកផ្សេង "
                                                                                      "(ដោយមានការយល់ព្រម)",
                                   "ar": "شهادة شخص آخر (بموافقته)", "de": "Die einer anderen Person (mit "
                                                                           "Zustimmung)"}}},
        "purpose": {"type": "string", "maxLength": 500,
                    "x-label": {"en": "What do you need it for?", "km": "តើអ្នកត្រូវការវាសម្រាប់អ្វី?",
                                "ar": "لماذا تحتاج إليها؟", "de": "Wofür brauchen Sie sie?"}},
    },
}
BIRTH_COPY_UI: dict[str, Any] = {
    "sections": [{"title": {"en": "The certificate", "km": "សំបុត្រ", "ar": "الشهادة", "de": "Die Urkunde"},
                  "fields": ["national_id", "relation", "purpose"]}],
    "widgets": {"national_id": "nin", "relation": "radio", "purpose": "textarea"},
}

SECTORS = {"agriculture": ("កសិកម្ម", "Agriculture", "الزراعة", "Landwirtschaft"),
           "food processing": ("កែច្នៃម្ហូបអាហារ", "Food processing", "تصنيع الأغذية", "Lebensmittelverarbeitung"),
           "garments": ("កាត់ដេរ", "Garments", "الملابس", "Bekleidung"),
           "handicrafts": ("សិប្បកម្ម", "Handicrafts", "الحرف اليدوية", "Kunsthandwerk"),
           "retail": ("លក់រាយ", "Retail", "البيع بالتجزئة", "Einzelhandel"),
           "tourism": ("ទេសចរណ៍", "Tourism", "السياحة", "Tourismus"),
           "construction": ("សំណង់", "Construction", "البناء", "Bauwesen"),
           "ict": ("បច្ចេកវិទ្យាព័ត៌មាន", "Information technology", "تقنية المعلومات", "Informationstechnik")}
SME_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["business_name", "sector", "province_code", "employees", "owner_national_id"],
    "properties": {
        "business_name": {"type": "string", "minLength": 2, "maxLength": 200,
                          "x-label": {"en": "Business name", "km": "ឈ្មោះអាជីវកម្ម", "ar": "الاسم التجاري",
                                      "de": "Firmenname"}},
        "business_name_km": {"type": "string", "maxLength": 200,
                             "x-label": {"en": "Business name in Khmer", "km": "ឈ្មោះអាជីវកម្មជាភាសាខ្មែរ",
                                         "ar": "الاسم التجاري بالخميرية", "de": "Firmenname auf Khmer"}},
        "sector": {"type": "string", "enum": list(SECTORS),
                   "x-label": {"en": "Sector", "km": "វិស័យ", "ar": "القطاع", "de": "Branche"},
                   "x-enum-labels": {k: {"km": v[0], "en": v[1], "ar": v[2], "de": v[3]} for k, v in SECTORS.items()}},
        "province_code": {"type": "string", "enum": list(PROVINCES),
                          "x-label": {"en": "Province", "km": "ខេត្ត", "ar": "المقاطعة", "de": "Provinz"},
                          "x-enum-labels": {k: {"km": v[0], "en": v[1], "ar": v[1], "de": v[1]}
                                            for k, v in PROVINCES.items()}},
        "employees": {"type": "integer", "minimum": 0, "maximum": 250,
                      "x-label": {"en": "Number of employees", "km": "ចំនួនបុគ្គលិក", "ar": "عدد الموظفين",
                                  "de": "Zahl der Beschäftigten"}},
        "women_owned": {"type": "boolean", "x-label": {"en": "The business is owned by a woman",
                                                       "km": "អាជីវកម្មនេះជាកម្មសិទ្ធិរបស់ស្ត្រី",
                                                       "ar": "تملك المنشأة امرأة", "de": "Das Unternehmen "
                                                                                         "gehört einer Frau"}},
        "owner_national_id": {"type": "string", "pattern": OWNER_ID_PATTERN, "x-pattern-message": OWNER_ID_MESSAGE,
                              "x-label": {"en": "Owner's national ID number", "km": "លេខអត្តសញ្ញាណប័ណ្ណម្ចាស់",
                                          "ar": "الرقم الوطني للمالك", "de": "Ausweisnummer des Inhabers"}},
    },
}
SME_UI: dict[str, Any] = {
    "sections": [
        {"title": {"en": "The business", "km": "អាជីវកម្ម", "ar": "المنشأة", "de": "Das Unternehmen"},
         "fields": ["business_name", "business_name_km", "sector", "province_code", "employees"]},
        {"title": {"en": "The owner", "km": "ម្ចាស់", "ar": "المالك", "de": "Inhaberin oder Inhaber"},
         "fields": ["owner_national_id", "women_owned"]}],
    "widgets": {"owner_national_id": "nin"},
}

ADDRESS_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["national_id", "new_address_code", "moved_on"],
    "properties": {
        "national_id": {"type": "string", "pattern": NIN_PATTERN, "x-pattern-message": NIN_MESSAGE,
                        "x-label": NIN_LABEL},
        "new_address_code": {"type": "string", "pattern": "^[0-9]{8}$",
                             "x-label": {"en": "Village of the new address", "km": "ភូមិនៃអាសយដ្ឋានថ្មី",
                                         "ar": "قرية العنوان الجديد", "de": "Dorf der neuen Anschrift"}},
        "new_address_text": {"type": "string", "maxLength": 400,
                             "x-label": {"en": "House number and street", "km": "លេខផ្ទះ និងផ្លូវ",
                                         "ar": "رقم المنزل والشارع", "de": "Hausnummer und Straße"}},
        "moved_on": {"type": "string", "format": "date", "x-not-future": True,
                     "x-label": {"en": "Day you moved", "km": "ថ្ងៃដែលអ្នកបានផ្លាស់ទីលំនៅ", "ar": "يوم الانتقال",
                                 "de": "Tag des Umzugs"}},
    },
}
ADDRESS_UI: dict[str, Any] = {
    "sections": [{"title": {"en": "Your new address", "km": "អាសយដ្ឋានថ្មីរបស់អ្នក", "ar": "عنوانك الجديد",
                            "de": "Ihre neue Anschrift"},
                  "fields": ["national_id", "new_address_code", "new_address_text", "moved_on"]}],
    "widgets": {"national_id": "nin", "new_address_code": "place", "moved_on": "date"},
}

SERVICES: list[ServiceCreate] = [
    ServiceCreate(
        code="birth-certificate-copy", org_unit_code="MOI-PNH", fee_code="BIRTH-COPY", processing_days=3,
        effect="birth_certificate_copy", form_schema=BIRTH_COPY_FORM, ui_schema=BIRTH_COPY_UI,
        required_documents=[ID_CARD],
        name={"km": "ច្បាប់ចម្លងសំបុត្រកំណើត", "en": "Copy of a birth certificate",
              "ar": "نسخة من شهادة الميلاد", "de": "Abschrift der Geburtsurkunde"},
        description={"km": "ច្បាប់ចម្លងដែលមានហត្ថលេខាឌីជីថលនៃសំបុត្រកំណើតពីបញ្ជីអត្រានុកូលដ្ឋាន។",
                     "en": "A digitally sealed certified copy of a birth certificate from the civil register.",
                     "ar": "نسخة مصدقة وموقعة رقميًا من شهادة الميلاد من السجل المدني.",
                     "de": "Eine digital gesiegelte beglaubigte Abschrift der Geburtsurkunde aus dem "
                           "Personenstandsregister."},
        eligibility={"km": "ម្ចាស់សំបុត្រ ឪពុកម្ដាយ ឬកូនរបស់គាត់។", "en": "The person born, their parents or "
                                                                          "their children.",
                     "ar": "صاحب الشهادة أو والداه أو أبناؤه.", "de": "Die geborene Person, ihre Eltern oder "
                                                                      "ihre Kinder."}),
    ServiceCreate(
        code="sme-registration", org_unit_code="MEF", fee_code=None, processing_days=5, four_eyes=True,
        effect="sme_registration", form_schema=SME_FORM, ui_schema=SME_UI, required_documents=[],
        name={"km": "ចុះបញ្ជីអាជីវកម្មខ្នាតតូច", "en": "Register a small business",
              "ar": "تسجيل منشأة صغيرة", "de": "Ein Kleinunternehmen anmelden"},
        description={"km": "ចុះបញ្ជីសហគ្រាសធុនតូចនិងមធ្យម ហើយទទួលបានវិញ្ញាបនបត្រចុះបញ្ជីដែលមានហត្ថលេខាឌីជីថល។",
                     "en": "Enter a small or medium enterprise in the SME register and receive a sealed "
                           "registration certificate.",
                     "ar": "قيد منشأة صغيرة أو متوسطة في السجل واستلام شهادة تسجيل مختومة رقميًا.",
                     "de": "Ein kleines oder mittleres Unternehmen ins KMU-Register eintragen und eine gesiegelte "
                           "Eintragungsbescheinigung erhalten."},
        eligibility={"km": "អាជីវកម្មដែលមានបុគ្គលិកមិនលើសពី ២៥០ នាក់។", "en": "Businesses with at most 250 employees.",
                     "ar": "المنشآت التي لا يزيد عدد موظفيها على 250.", "de": "Unternehmen mit höchstens 250 "
                                                                              "Beschäftigten."}),
    ServiceCreate(
        code="change-of-address", org_unit_code="MOI-PNH", fee_code=None, processing_days=5,
        effect="change_of_address", form_schema=ADDRESS_FORM, ui_schema=ADDRESS_UI, required_documents=[
            DocumentRequirement(code="proof_of_address", required=False, label={
                "en": "Proof of the new address (a lease or a letter from the village chief)",
                "km": "ភស្តុតាងនៃអាសយដ្ឋានថ្មី (កិច្ចសន្យាជួល ឬលិខិតពីមេភូមិ)",
                "ar": "إثبات العنوان الجديد (عقد إيجار أو رسالة من رئيس القرية)",
                "de": "Nachweis der neuen Anschrift (Mietvertrag oder Schreiben des Dorfvorstehers)"})],
        name={"km": "រាយការណ៍ការផ្លាស់ប្ដូរអាសយដ្ឋាន", "en": "Report a change of address",
              "ar": "الإبلاغ عن تغيير العنوان", "de": "Eine Adressänderung melden"},
        description={"km": "ប្រាប់បញ្ជីអត្រានុកូលដ្ឋានពីអាសយដ្ឋានថ្មីរបស់អ្នក។ មន្ត្រីអត្រានុកូលដ្ឋាននឹងចុះបញ្ជីវា។",
                     "en": "Tell the civil register your new address; a registrar records it.",
                     "ar": "أبلغ السجل المدني بعنوانك الجديد؛ وسيسجله موظف الأحوال المدنية.",
                     "de": "Teilen Sie dem Personenstandsregister Ihre neue Anschrift mit; ein Standesbeamter "
                           "trägt sie ein."},
        eligibility={"km": "អ្នករស់នៅដែលបានចុះបញ្ជី។", "en": "Registered residents.", "ar": "المقيمون المسجلون.",
                     "de": "Gemeldete Einwohnerinnen und Einwohner."}),
]

ROLES: list[tuple[str, dict[str, str], list[str]]] = [
    ("service_officer", {"km": "មន្ត្រីសេវាសាធារណៈ", "en": "Service officer", "ar": "موظف الخدمات",
                         "de": "Sachbearbeiter Bürgerdienste"},
     [service.SERVICES_PROCESS, service.SERVICES_COUNTER]),
    ("service_supervisor", {"km": "អ្នកគ្រប់គ្រងសេវាសាធារណៈ", "en": "Service supervisor", "ar": "مشرف الخدمات",
                            "de": "Leitung Bürgerdienste"},
     [service.SERVICES_PROCESS, service.SERVICES_COUNTER, service.SERVICES_APPROVE, service.SERVICES_MANAGE]),
]
# (username, full name, office, role, password) — demo passwords, printed by `demo load`.
OFFICERS: list[tuple[str, str, str, str, str]] = [
    ("counter.pnh", "សុខ វណ្ណា", "MOI-PNH", "service_officer", "Royal-Palace-2026-demo"),
    ("chief.pnh", "ម៉ម សុភ័ក្រ", "MOI-PNH", "service_supervisor", "Silver-Pagoda-2026-demo"),
    ("reviewer.mef", "Amira Nasser", "MEF", "service_officer", "Kampot-Pepper-2026-demo"),
    ("chief.mef", "Rūta Kazlauskienė", "MEF", "service_supervisor", "Trakai-Castle-2026-demo"),
]
CONSULTATION = ConsultationCreate(
    org_unit_code="MEF", closes_at=utcnow() + timedelta(days=60),
    title={"km": "សេចក្ដីព្រាងអនុក្រឹត្យស្ដីពីការចុះបញ្ជីអាជីវកម្មខ្នាតតូចតាមអនឡាញ",
           "en": "Draft sub-decree on registering small businesses online",
           "ar": "مشروع مرسوم فرعي بشأن تسجيل المنشآت الصغيرة عبر الإنترنت",
           "de": "Entwurf eines Unterdekrets zur Online-Anmeldung kleiner Unternehmen"},
    body={"km": "ក្រសួងស្នើឱ្យការចុះបញ្ជីអាជីវកម្មខ្នាតតូចធ្វើឡើងតាមអនឡាញទាំងស្រុង ដោយគ្មានថ្លៃសេវា "
                "និងក្នុងរយៈពេលប្រាំថ្ងៃ។",
          "en": "The ministry proposes that small businesses register fully online, free of charge, "
                "with a decision within five days.",
          "ar": "تقترح الوزارة أن تسجل المنشآت الصغيرة بالكامل عبر الإنترنت مجانًا، مع قرار خلال خمسة أيام.",
          "de": "Das Ministerium schlägt vor, dass sich kleine Unternehmen vollständig online, kostenlos und "
                "mit einer Entscheidung binnen fünf Tagen anmelden."})


def load_demo(session: Session) -> list[str]:
    """Create the three demo services, the service roles and officers and a consultation where missing."""
    actor = Actor.system("demo")
    lines: list[str] = []
    units = {u.code for u in accounts.list_org_units(session, actor)}
    fees = {f.code for f in payments.list_fees(session, actor)}
    for data in SERVICES:
        if data.org_unit_code not in units or repository.service_by_code(session, data.code) is not None:
            continue
        if data.fee_code and data.fee_code not in fees:
            continue
        service.create_service(session, actor, data=data)
        lines.append(f"e-service {data.code}: /services/{data.code}")
    lines += accounts.demo_staff(session, actor, roles=ROLES, officers=OFFICERS)
    if "MEF" in units and not repository.consultations(session):
        service.create_consultation(session, actor, data=CONSULTATION)
        lines.append("consultation: /consultations")
    return lines
