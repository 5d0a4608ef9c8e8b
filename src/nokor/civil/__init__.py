"""The civil register: residents, national ID numbers, virtual IDs and life events.

Other domains use only what is listed here.
"""

from nokor.civil.demo import load_demo
from nokor.civil.matching import latin_form
from nokor.civil.nin import generate_nin, validate_nin, verhoeff_digit, verhoeff_valid
from nokor.civil.schemas import (
    CertificateIssued,
    CertificateRead,
    CivilRules,
    ContactDetails,
    CorrectionCreate,
    CorrectionRead,
    EventCreate,
    EventRead,
    NinCheck,
    PersonDetails,
    ResidentCreate,
    ResidentRead,
    ResidentVersionRead,
    VirtualIdRead,
)
from nokor.civil.service import (
    approve_correction,
    approve_late_event,
    certify_event,
    check_nin,
    count_events,
    create_event,
    create_household,
    create_resident,
    declare_event,
    find_resident_by_nin,
    get_event,
    get_resident,
    issue_certificate,
    issue_national_id,
    issue_virtual_id,
    list_certificates,
    list_corrections,
    list_events,
    list_virtual_ids,
    register_event,
    reissue_certificate,
    reject_correction,
    reject_event,
    request_correction,
    request_event_updates,
    resident_history,
    resolve_virtual_id,
    revoke_virtual_id,
    search_residents,
    update_contact,
    update_event,
    validate_event,
)

__all__ = [
    "CertificateIssued", "CertificateRead", "CivilRules", "ContactDetails", "CorrectionCreate", "CorrectionRead",
    "EventCreate", "EventRead", "NinCheck", "PersonDetails", "ResidentCreate", "ResidentRead", "ResidentVersionRead",
    "VirtualIdRead", "approve_correction", "approve_late_event", "certify_event", "check_nin", "count_events",
    "create_event", "create_household", "create_resident", "declare_event", "find_resident_by_nin", "generate_nin",
    "get_event", "get_resident", "issue_certificate", "issue_national_id", "issue_virtual_id", "latin_form",
    "list_certificates", "list_corrections", "list_events", "list_virtual_ids", "load_demo", "register_event",
    "reissue_certificate", "reject_correction", "reject_event", "request_correction", "request_event_updates",
    "resident_history", "resolve_virtual_id", "revoke_virtual_id", "search_residents", "update_contact",
    "update_event", "validate_event", "validate_nin", "verhoeff_digit", "verhoeff_valid",
]
