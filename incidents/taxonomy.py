"""Incident types: the words agents pick from, each tied to the taxonomies responders already use.

A contact centre hears about incidents in its own words ("a caller pretended to be the account
holder"); regulators, CSIRTs and threat reports use standard ones. Each type therefore names its
place in three references, so a report or an export can be read by someone who knows only one:

- NIST SP 800-61 Rev. 2, section 3.2.1, attack vectors (External/Removable Media, Attrition, Web,
  Email, Impersonation, Improper Usage, Loss or Theft of Equipment, Other);
- the Reference Security Incident Taxonomy (RSIT) of ENISA and TF-CSIRT, as class / type;
- VERIS (the Vocabulary for Event Recording and Incident Sharing), as action category / variety.

The mappings are this project's reading of those public taxonomies, not an official crosswalk.
Two flags feed the obligation rules: whether the type is one of the kinds listed in Annex I of
the CERT-In Directions of 28 April 2022 (so the 6-hour report applies without asking), and
whether it is an adversary's act, which the Japanese APPI treats as a "wrongful purpose".
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class IncidentType(StrEnum):
    PHISHING = "phishing"
    VISHING = "vishing"
    SMISHING = "smishing"
    SOCIAL_ENGINEERING = "social_engineering"
    ACCOUNT_COMPROMISE = "account_compromise"
    MALWARE = "malware"
    RANSOMWARE = "ransomware"
    DATA_LEAKAGE = "data_leakage"
    MISDIRECTED_DISCLOSURE = "misdirected_disclosure"
    UNAUTHORISED_ACCESS = "unauthorised_access"
    LOST_OR_STOLEN_ASSET = "lost_or_stolen_asset"
    INSIDER_MISUSE = "insider_misuse"
    DENIAL_OF_SERVICE = "denial_of_service"
    PHYSICAL_SECURITY = "physical_security"
    POLICY_VIOLATION = "policy_violation"
    OTHER = "other"


class TypeInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    covers: str
    nist_800_61: str
    rsit: str
    veris: str
    certin_annex_i: bool
    adversarial: bool


_T = IncidentType

TAXONOMY: dict[IncidentType, TypeInfo] = {
    _T.PHISHING: TypeInfo(
        title="Phishing",
        covers="Deceptive email or web page seeking credentials, payment or data",
        nist_800_61="Email",
        rsit="Fraud / Phishing",
        veris="Social / Phishing (vector: Email)",
        certin_annex_i=True,
        adversarial=True,
    ),
    _T.VISHING: TypeInfo(
        title="Vishing (voice phishing)",
        covers="A caller impersonates a customer, colleague or bank to obtain data or actions",
        nist_800_61="Impersonation",
        rsit="Fraud / Masquerade",
        veris="Social / Pretexting (vector: Phone)",
        certin_annex_i=True,
        adversarial=True,
    ),
    _T.SMISHING: TypeInfo(
        title="Smishing (SMS phishing)",
        covers="Text or chat messages luring people to hand over credentials or data",
        nist_800_61="Impersonation",
        rsit="Fraud / Phishing",
        veris="Social / Phishing (vector: SMS)",
        certin_annex_i=True,
        adversarial=True,
    ),
    _T.SOCIAL_ENGINEERING: TypeInfo(
        title="Other social engineering",
        covers="Manipulation of staff by pretext, bribery or pressure, outside the phishing forms",
        nist_800_61="Impersonation",
        rsit="Information Gathering / Social Engineering",
        veris="Social / Pretexting",
        certin_annex_i=False,
        adversarial=True,
    ),
    _T.ACCOUNT_COMPROMISE: TypeInfo(
        title="Credential or account compromise",
        covers="A customer or staff account used by someone else; leaked or guessed credentials",
        nist_800_61="Impersonation",
        rsit="Intrusions / Unprivileged (or Privileged) Account Compromise",
        veris="Hacking / Use of stolen credentials",
        certin_annex_i=True,
        adversarial=True,
    ),
    _T.MALWARE: TypeInfo(
        title="Malware",
        covers="Virus, trojan, spyware, infostealer or cryptominer on an endpoint or server",
        nist_800_61="External/Removable Media or Web or Email (by entry point)",
        rsit="Malicious Code / Infected System",
        veris="Malware",
        certin_annex_i=True,
        adversarial=True,
    ),
    _T.RANSOMWARE: TypeInfo(
        title="Ransomware",
        covers="Data encrypted or stolen with a ransom or extortion demand",
        nist_800_61="Other (by entry point)",
        rsit="Malicious Code / Infected System",
        veris="Malware / Ransomware",
        certin_annex_i=True,
        adversarial=True,
    ),
    _T.DATA_LEAKAGE: TypeInfo(
        title="Data leakage or exfiltration",
        covers="Data leaving the organisation: uploads, exports, exposed storage, copied records",
        nist_800_61="Improper Usage or Web (by cause)",
        rsit="Information Content Security / Leak of Confidential Information",
        veris="Hacking or Misuse / Data exfiltration",
        certin_annex_i=True,
        adversarial=False,
    ),
    _T.MISDIRECTED_DISCLOSURE: TypeInfo(
        title="Misdirected disclosure",
        covers="Data sent or read out to the wrong recipient: email, letter, call, chat",
        nist_800_61="Other",
        rsit="Information Content Security / Unauthorised Access to Information",
        veris="Error / Misdelivery",
        certin_annex_i=False,
        adversarial=False,
    ),
    _T.UNAUTHORISED_ACCESS: TypeInfo(
        title="Unauthorised access",
        covers="Systems or data reached by someone without the right: intrusion, exploited flaw",
        nist_800_61="Web or Attrition (by method)",
        rsit="Intrusions / System Compromise",
        veris="Hacking",
        certin_annex_i=True,
        adversarial=True,
    ),
    _T.LOST_OR_STOLEN_ASSET: TypeInfo(
        title="Lost or stolen device or document",
        covers="Laptop, phone, token, storage or paper with client data lost or stolen",
        nist_800_61="Loss or Theft of Equipment",
        rsit="Information Content Security / Data Loss",
        veris="Physical / Theft, or Error / Loss",
        certin_annex_i=False,
        adversarial=False,
    ),
    _T.INSIDER_MISUSE: TypeInfo(
        title="Insider misuse",
        covers="Staff using their access beyond their role: snooping, copying, selling data",
        nist_800_61="Improper Usage",
        rsit="Fraud / Unauthorised Use of Resources",
        veris="Misuse / Privilege abuse",
        certin_annex_i=False,
        adversarial=True,
    ),
    _T.DENIAL_OF_SERVICE: TypeInfo(
        title="Denial of service",
        covers="Phone lines, chat or systems flooded or knocked out on purpose",
        nist_800_61="Attrition",
        rsit="Availability / DoS or DDoS",
        veris="Hacking / DoS",
        certin_annex_i=True,
        adversarial=True,
    ),
    _T.PHYSICAL_SECURITY: TypeInfo(
        title="Physical security breach",
        covers="Tailgating, break-in, unescorted visitor, tampered equipment on the floor",
        nist_800_61="Other",
        rsit="Intrusions / Burglary",
        veris="Physical",
        certin_annex_i=False,
        adversarial=True,
    ),
    _T.POLICY_VIOLATION: TypeInfo(
        title="Security policy violation",
        covers="Clean-desk, phone-on-floor, shared login or similar breach of the SOP",
        nist_800_61="Improper Usage",
        rsit="Other / Other",
        veris="Misuse / Unapproved workaround",
        certin_annex_i=False,
        adversarial=False,
    ),
    _T.OTHER: TypeInfo(
        title="Other",
        covers="Anything that fits none of the above; describe it and triage will classify it",
        nist_800_61="Other",
        rsit="Other / Undetermined",
        veris="Unknown",
        certin_annex_i=False,
        adversarial=False,
    ),
}


def describe(incident_type: IncidentType) -> TypeInfo:
    return TAXONOMY[incident_type]


def certin_reportable_types() -> frozenset[IncidentType]:
    return frozenset(t for t, info in TAXONOMY.items() if info.certin_annex_i)


def adversarial_types() -> frozenset[IncidentType]:
    return frozenset(t for t, info in TAXONOMY.items() if info.adversarial)
