"""Each catalogue row against facts that engage it: who owes it, the due instants of its stages,
and the facts that rule it out. One or more cases per row, so a changed catalogue row shows up
here as a changed expectation."""

from __future__ import annotations

from typing import Any

import pytest

from incidents.obligations import ObligationReport, OwedBy, StageStatus, obligations_for
from incidents.regimes import load_catalogue
from tests.domain.conftest import facts, obligation, reason, stage, utc

EU_PERSONAL: dict[str, Any] = {"jurisdictions": ["DE"], "data_categories": ["personal"]}
HEALTH = {"sectors": ["healthcare"], "data_categories": ["health"]}

# (obligation id, facts, owed_by, {stage: due instant in UTC, or a status})
CASES: list[tuple[str, dict[str, Any], OwedBy, dict[str, str]]] = [
    ("eu_gdpr_art33_authority", EU_PERSONAL, OwedBy.CLIENT,
     {"initial": "2026-06-04T10:00:00+00:00", "supplementary": "no_fixed_deadline"}),
    ("eu_gdpr_art33_authority", {**EU_PERSONAL, "role": "controller"}, OwedBy.US,
     {"initial": "2026-06-04T10:00:00+00:00"}),
    ("eu_gdpr_art33_processor_to_controller", EU_PERSONAL, OwedBy.US,
     {"notification": "no_fixed_deadline"}),
    ("eu_gdpr_art34_data_subjects", EU_PERSONAL, OwedBy.CLIENT,
     {"communication": "no_fixed_deadline"}),
    ("uk_gdpr_art33_ico", {"jurisdictions": ["UK"], "data_categories": ["personal"]},
     OwedBy.CLIENT, {"initial": "2026-06-04T10:00:00+00:00"}),
    ("uk_gdpr_art33_processor_to_controller",
     {"jurisdictions": ["GB"], "data_categories": ["personal"]}, OwedBy.US,
     {"notification": "no_fixed_deadline"}),
    ("us_hipaa_individuals", {**HEALTH, "jurisdictions": ["US-NY"]}, OwedBy.CLIENT,
     {"notice": "2026-07-31T10:00:00+00:00"}),
    ("us_hipaa_hhs_500_plus", {**HEALTH, "jurisdictions": ["US"], "records_affected": 600},
     OwedBy.CLIENT, {"notice": "2026-07-31T10:00:00+00:00"}),
    # Annual batch: the end of 1 March 2027 in Washington, D.C. time.
    ("us_hipaa_hhs_under_500", {**HEALTH, "jurisdictions": ["US"], "records_affected": 120},
     OwedBy.CLIENT, {"annual_log": "2027-03-02T05:00:00+00:00"}),
    ("us_hipaa_media", {**HEALTH, "jurisdictions": ["US-NY"], "records_affected": 600},
     OwedBy.CLIENT, {"notice": "2026-07-31T10:00:00+00:00"}),
    ("us_hipaa_business_associate_to_covered_entity", {**HEALTH, "jurisdictions": ["US-TX"]},
     OwedBy.US, {"notification": "2026-07-31T10:00:00+00:00"}),
    ("pci_visa_account_data_compromise", {"data_categories": ["payment_card"]}, OwedBy.US,
     {"initial_notification": "no_fixed_deadline", "incident_report": "2026-06-04T17:00:00+00:00",
      "account_numbers": "2026-06-15T17:00:00+00:00"}),
    ("pci_mastercard_adc_event", {"data_categories": ["payment_card"]}, OwedBy.CLIENT,
     {"initial": "2026-06-02T10:00:00+00:00", "pfi_engagement": "2026-06-04T10:00:00+00:00"}),
    ("us_sec_8k_item_1_05", {"sectors": ["public_company"]}, OwedBy.CLIENT,
     {"initial_8k": "pending_trigger", "amendment_8k_a": "pending_trigger"}),
    ("us_sec_8k_item_1_05",
     {"sectors": ["public_company"],
      "events": {"materiality_determination": "2026-09-04T16:00:00-04:00"}},
     OwedBy.CLIENT, {"initial_8k": "2026-09-11T21:00:00+00:00"}),
    ("eu_nis2_art23_significant_incident", {"jurisdictions": ["FR"], "sectors": ["nis2_essential"]},
     OwedBy.CLIENT,
     {"early_warning": "2026-06-02T10:00:00+00:00",
      "incident_notification": "2026-06-04T10:00:00+00:00",
      "intermediate_report": "no_fixed_deadline", "final_report": "pending_trigger"}),
    ("eu_nis2_art23_significant_incident",
     {"jurisdictions": ["FR"], "sectors": ["nis2_important"],
      "events": {"incident_notification_submitted": "2026-07-31T09:00:00+02:00"}},
     OwedBy.CLIENT, {"final_report": "2026-08-31T07:00:00+00:00"}),
    ("eu_nis2_art23_trust_service_provider",
     {"jurisdictions": ["EU"], "sectors": ["trust_service"]}, OwedBy.CLIENT,
     {"incident_notification": "2026-06-02T10:00:00+00:00"}),
    ("eu_dora_major_ict_incident",
     {"jurisdictions": ["IE"], "sectors": ["financial"],
      "events": {"classification": "2026-06-01T12:00:00+00:00"}},
     OwedBy.CLIENT, {"initial_notification": "2026-06-01T16:00:00+00:00",
                     "intermediate_report": "pending_trigger"}),
    ("us_nydfs_500_17_cybersecurity_incident",
     {"sectors": ["nydfs_covered"], "events": {"determination": "2026-06-01T15:00:00+00:00"}},
     OwedBy.CLIENT, {"initial": "2026-06-04T15:00:00+00:00", "updates": "no_fixed_deadline"}),
    ("us_nydfs_500_17_extortion_payment",
     {"sectors": ["nydfs_covered"], "events": {"payment": "2026-06-03T12:00:00+00:00"}},
     OwedBy.CLIENT, {"payment_notice": "2026-06-04T12:00:00+00:00",
                     "written_explanation": "2026-07-03T12:00:00+00:00"}),
    ("in_certin_2022_cyber_incident", {"sites": ["IN"]}, OwedBy.US,
     {"initial": "2026-06-01T16:00:00+00:00"}),
    ("in_certin_2022_cyber_incident",
     {"sites": ["IN"], "role": "controller", "events": {"noticing": "2026-06-01T12:00:00+05:30"}},
     OwedBy.US, {"initial": "2026-06-01T12:30:00+00:00"}),
    ("in_dpdp_rule7_board",
     {"aware_at": "2027-06-01T10:00:00+00:00", "jurisdictions": ["IN"],
      "data_categories": ["personal"]}, OwedBy.CLIENT,
     {"initial_intimation": "no_fixed_deadline", "detailed_report": "2027-06-04T10:00:00+00:00"}),
    ("in_dpdp_rule7_data_principals",
     {"aware_at": "2027-06-01T10:00:00+00:00", "jurisdictions": ["IN"],
      "data_categories": ["personal"]}, OwedBy.CLIENT, {"intimation": "no_fixed_deadline"}),
    ("sg_pdpa_data_intermediary_to_organisation",
     {"jurisdictions": ["SG"], "data_categories": ["personal"]}, OwedBy.US,
     {"notification": "no_fixed_deadline"}),
    ("sg_pdpa_assessment", {"jurisdictions": ["SG"], "data_categories": ["personal"]},
     OwedBy.CLIENT, {"assessment": "2026-07-01T10:00:00+00:00"}),
    ("sg_pdpa_commission", {"jurisdictions": ["SG"], "data_categories": ["personal"]},
     OwedBy.CLIENT, {"notification": "pending_trigger"}),
    ("sg_pdpa_commission",
     {"jurisdictions": ["SG"], "data_categories": ["personal"],
      "events": {"assessment_complete": "2026-06-10T02:00:00+00:00"}},
     OwedBy.CLIENT, {"notification": "2026-06-13T02:00:00+00:00"}),
    ("sg_pdpa_individuals", {"jurisdictions": ["SG"], "data_categories": ["personal"]},
     OwedBy.CLIENT, {"notification": "no_fixed_deadline"}),
    ("au_ndb_assessment", {"jurisdictions": ["AU"], "data_categories": ["personal"]},
     OwedBy.CLIENT, {"assessment": "2026-07-01T10:00:00+00:00"}),
    ("au_ndb_oaic_and_individuals", {"jurisdictions": ["AU"], "data_categories": ["personal"]},
     OwedBy.CLIENT, {"oaic_statement": "no_fixed_deadline", "individuals": "no_fixed_deadline"}),
    ("ca_pipeda_breach_of_security_safeguards",
     {"jurisdictions": ["CA"], "data_categories": ["personal"]}, OwedBy.CLIENT,
     {"report_and_notice": "no_fixed_deadline"}),
    # Brazil: Tiradentes (Tuesday 21 April) does not count.
    ("br_lgpd_anpd_and_data_subjects",
     {"aware_at": "2026-04-20T13:00:00+00:00", "jurisdictions": ["BR"],
      "data_categories": ["personal"]}, OwedBy.CLIENT,
     {"initial_communication": "2026-04-24T20:00:00+00:00",
      "complementary_information": "pending_trigger"}),
    # Brazil: Good Friday and the weekend after it.
    ("br_lgpd_anpd_and_data_subjects",
     {"aware_at": "2026-04-02T13:00:00+00:00", "jurisdictions": ["BR"],
      "data_categories": ["credentials"]}, OwedBy.CLIENT,
     {"initial_communication": "2026-04-08T20:00:00+00:00"}),
    ("jp_appi_ppc_report", {"jurisdictions": ["JP"], "data_categories": ["financial"]},
     OwedBy.CLIENT, {"preliminary_report": "2026-06-06T10:00:00+00:00",
                     "final_report": "2026-07-01T10:00:00+00:00"}),
    ("jp_appi_data_subjects", {"jurisdictions": ["JP"], "data_categories": ["personal"]},
     OwedBy.CLIENT, {"notification": "no_fixed_deadline"}),
    ("jp_appi_entrusted_to_entrusting", {"jurisdictions": ["JP"], "data_categories": ["personal"]},
     OwedBy.US, {"notification": "no_fixed_deadline"}),
    ("ph_dpa_npc_and_data_subjects",
     {"jurisdictions": ["GB"], "sites": ["PH"], "data_categories": ["personal"]}, OwedBy.CLIENT,
     {"initial_notification": "2026-06-04T10:00:00+00:00",
      "full_report": "2026-06-06T10:00:00+00:00",
      "annual_security_incident_report": "no_fixed_deadline"}),
    ("ph_dpa_processor_to_controller", {"sites": ["PH"], "data_categories": ["personal"]},
     OwedBy.US, {"notification": "no_fixed_deadline"}),
    ("za_popia_regulator_and_data_subjects",
     {"jurisdictions": ["ZA"], "data_categories": ["personal"]}, OwedBy.CLIENT,
     {"notification": "no_fixed_deadline"}),
    ("za_popia_operator_to_responsible_party",
     {"jurisdictions": ["ZA"], "data_categories": ["personal"]}, OwedBy.US,
     {"notification": "no_fixed_deadline"}),
    ("us_ca_1798_82_individuals", {"jurisdictions": ["US-CA"], "data_categories": ["personal"]},
     OwedBy.CLIENT, {"notice": "2026-07-01T10:00:00+00:00"}),
    ("us_ca_1798_82_attorney_general",
     {"jurisdictions": ["US-CA"], "data_categories": ["personal"], "records_affected": 501,
      "events": {"notification_of_individuals": "2026-06-20T10:00:00-07:00"}},
     OwedBy.CLIENT, {"sample_notice": "2026-07-05T17:00:00+00:00"}),
    ("us_co_6_1_716",
     {"jurisdictions": ["US-CO"], "data_categories": ["personal"],
      "events": {"determination": "2026-06-02T14:00:00+00:00"}},
     OwedBy.CLIENT, {"notice": "2026-07-02T14:00:00+00:00"}),
    ("us_fl_501_171_individuals",
     {"jurisdictions": ["US-FL"], "data_categories": ["personal"]}, OwedBy.CLIENT,
     {"notice": "pending_trigger"}),
    ("us_fl_501_171_department_of_legal_affairs",
     {"jurisdictions": ["US-FL"], "data_categories": ["personal"], "records_affected": 500,
      "events": {"determination": "2026-06-02T14:00:00+00:00"}},
     OwedBy.CLIENT, {"notice": "2026-07-02T14:00:00+00:00"}),
    ("us_fl_501_171_third_party_agent",
     {"jurisdictions": ["US-FL"], "data_categories": ["personal"],
      "events": {"determination": "2026-06-02T14:00:00+00:00"}},
     OwedBy.US, {"notification": "2026-06-12T14:00:00+00:00"}),
    ("us_wa_19_255", {"jurisdictions": ["US-WA"], "data_categories": ["personal"]},
     OwedBy.CLIENT, {"notice": "2026-07-01T10:00:00+00:00"}),
    ("us_ny_gbl_899_aa", {"jurisdictions": ["US-NY"], "data_categories": ["personal"]},
     OwedBy.CLIENT, {"notice": "2026-07-01T10:00:00+00:00"}),
    ("us_tx_521_053_attorney_general",
     {"jurisdictions": ["US-TX"], "data_categories": ["personal"], "records_affected": 250,
      "events": {"determination": "2026-06-02T14:00:00+00:00"}},
     OwedBy.CLIENT, {"notice": "2026-07-02T14:00:00+00:00"}),
    ("us_tx_521_053_individuals",
     {"jurisdictions": ["US-TX"], "data_categories": ["personal"],
      "events": {"determination": "2026-06-02T14:00:00+00:00"}},
     OwedBy.CLIENT, {"notice": "2026-08-01T14:00:00+00:00"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("obligation_id", "given", "owed_by", "expected"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_row(
    obligation_id: str, given: dict[str, Any], owed_by: OwedBy, expected: dict[str, str]
) -> None:
    report = obligations_for(facts(**given))
    assert obligation(report, obligation_id).owed_by is owed_by
    for name, want in expected.items():
        got = stage(report, obligation_id, name)
        if want in StageStatus.__members__.values():
            assert (got.status.value, got.due_at) == (want, None), name
        else:
            assert got.status is StageStatus.DUE, name
            assert got.due_at == utc(want), name


def test_every_applicable_row_has_a_case() -> None:
    covered = {c[0] for c in CASES}
    in_force = {r.id for r in load_catalogue().obligations if r.status.value != "proposed"}
    assert in_force - covered == set()


@pytest.mark.parametrize(
    ("obligation_id", "given", "because"),
    [
        ("us_circia_covered_cyber_incident", {"sectors": ["critical_infrastructure"]}, "proposed"),
        ("us_circia_ransom_payment", {"sectors": ["critical_infrastructure"]}, "proposed"),
        ("in_dpdp_rule7_board", {"jurisdictions": ["IN"], "data_categories": ["personal"]},
         "applies from 2027-05-13"),
        ("us_ca_1798_82_individuals",
         {"aware_at": "2025-12-20T10:00:00+00:00", "jurisdictions": ["US-CA"],
          "data_categories": ["personal"]}, "applies from 2026-01-01"),
        ("eu_gdpr_art33_processor_to_controller", {**EU_PERSONAL, "role": "controller"},
         "we are the controller"),
        ("eu_gdpr_art33_authority", {"jurisdictions": ["DE"]}, "no personal data"),
        ("eu_gdpr_art33_authority", {"jurisdictions": ["US"], "data_categories": ["personal"]},
         "no affected people in EEA"),
        ("us_hipaa_individuals", {"jurisdictions": ["US"], "data_categories": ["health"]},
         "not in sector healthcare"),
        ("us_hipaa_hhs_500_plus", {**HEALTH, "jurisdictions": ["US"], "records_affected": 499},
         "499 individuals"),
        ("us_hipaa_hhs_under_500", {**HEALTH, "jurisdictions": ["US"], "records_affected": 500},
         "applies to fewer than 500"),
        ("us_hipaa_media", {**HEALTH, "jurisdictions": ["US-NY"], "records_affected": 500},
         "more than 500 residents of a single US state"),
        ("us_ca_1798_82_attorney_general",
         {"jurisdictions": ["US-CA"], "data_categories": ["personal"], "records_affected": 500},
         "more than 500 residents of US-CA"),
        ("us_tx_521_053_attorney_general",
         {"jurisdictions": ["US-TX"], "data_categories": ["personal"], "records_affected": 249},
         "at least 250 residents of US-TX"),
        ("pci_visa_account_data_compromise", {"data_categories": ["personal"]},
         "no payment_card data"),
        # CERT-In runs on our Indian sites, not on where the affected people live.
        ("in_certin_2022_cyber_incident", {"jurisdictions": ["IN"]}, "no site of ours in IN"),
        # Our EU site does not make the client's GDPR authority notice apply.
        ("eu_gdpr_art33_authority",
         {"jurisdictions": ["US"], "sites": ["IE"], "data_categories": ["personal"]},
         "does not count"),
    ],
)  # fmt: skip
def test_not_applicable_names_the_fact(
    obligation_id: str, given: dict[str, Any], because: str
) -> None:
    assert because in reason(obligations_for(facts(**given)), obligation_id)


def test_dora_takes_the_earlier_of_four_hours_from_classification_and_24_from_awareness() -> None:
    def initial(classified: str | None) -> Any:
        events = {"classification": classified} if classified else {}
        report = obligations_for(facts(jurisdictions=["DE"], sectors=["financial"], events=events))
        return stage(report, "eu_dora_major_ict_incident", "initial_notification")

    pending = initial(None)
    assert pending.status is StageStatus.PENDING_TRIGGER
    assert pending.not_later_than == utc("2026-06-02T10:00:00+00:00")
    assert initial("2026-06-02T08:00:00+00:00").due_at == utc("2026-06-02T10:00:00+00:00")
    # Classified as major only after 24 hours: four hours from that classification.
    assert initial("2026-06-02T16:00:00+00:00").due_at == utc("2026-06-02T20:00:00+00:00")


def test_thresholds_needing_judgement_are_questions_not_assumptions() -> None:
    report = obligations_for(facts(**EU_PERSONAL))
    assert any("risk" in q for q in obligation(report, "eu_gdpr_art33_authority").needs_assessment)
    hhs = obligations_for(facts(**HEALTH, jurisdictions=["US"]))
    for row in ("us_hipaa_hhs_500_plus", "us_hipaa_hhs_under_500"):
        assert any("How many" in q for q in obligation(hhs, row).needs_assessment)
    several = obligations_for(
        facts(jurisdictions=["US-CA", "US-NV"], data_categories=["personal"], records_affected=900)
    )
    questions = obligation(several, "us_ca_1798_82_attorney_general").needs_assessment
    assert "Are more than 500 residents of US-CA affected?" in questions


def test_facts_answer_questions_where_they_can() -> None:
    def questions(**given: Any) -> tuple[str, ...]:
        return obligation(
            obligations_for(facts(**given)), "in_certin_2022_cyber_incident"
        ).needs_assessment

    assert len(questions(sites=["IN"])) == 1
    assert questions(sites=["IN"], incident_type="ransomware") == ()
    assert len(questions(sites=["IN"], incident_type="lost_or_stolen_asset")) == 1
    sec = obligations_for(
        facts(
            sectors=["public_company"],
            events={"materiality_determination": "2026-06-03T10:00:00+00:00"},
        )
    )
    assert not any("material" in q for q in obligation(sec, "us_sec_8k_item_1_05").needs_assessment)


def test_the_philippine_scope_question_is_asked_only_without_philippine_data_subjects() -> None:
    def has_scope_question(**given: Any) -> bool:
        report = obligations_for(facts(data_categories=["personal"], **given))
        return any(
            "s.4" in q for q in obligation(report, "ph_dpa_npc_and_data_subjects").needs_assessment
        )

    assert has_scope_question(sites=["PH"], jurisdictions=["US"])
    assert not has_scope_question(jurisdictions=["PH"])


def test_policies_fill_in_the_client_footprint_and_add_the_contract(policies: dict) -> None:
    harbour = policies["harbour-pine"]
    report = obligations_for(
        facts(client="harbour-pine", data_categories=["payment_card"]), harbour
    )
    contract = obligation(report, "contract_harbour-pine_processor_to_controller")
    assert contract.owed_by is OwedBy.US
    assert contract.stages[0].due_at == utc("2026-06-01T22:00:00+00:00")
    # Sites from the policy: CERT-In (India) and the Philippine DPA apply.
    assert {"in_certin_2022_cyber_incident", "ph_dpa_npc_and_data_subjects"} <= report.ids()
    # Visa business days on the acquirer's (UK) calendar: Christmas and Boxing Day (observed).
    xmas = obligations_for(
        facts(aware_at="2026-12-23T10:00:00+00:00", data_categories=["payment_card"]), harbour
    )
    assert stage(xmas, "pci_visa_account_data_compromise", "incident_report").due_at == utc(
        "2026-12-30T17:00:00+00:00"
    )


def test_a_business_day_contract_uses_its_own_calendar(policies: dict) -> None:
    cascade = policies["cascade-health"]
    report = obligations_for(facts(aware_at="2026-11-25T15:00:00+00:00"), cascade)
    contract = stage(report, "contract_cascade-health_processor_to_controller", "notification")
    # Wednesday before Thanksgiving: Fri 27 (1), Mon 30, Tue 1, Wed 2, Thu 3 December (5),
    # at 17:00 in Los Angeles.
    assert contract.due_at == utc("2026-12-04T01:00:00+00:00")


def test_no_processor_leg_and_no_contract_when_we_are_the_controller(policies: dict) -> None:
    report = obligations_for(facts(role="controller", **EU_PERSONAL), policies["demo"])
    assert "we are the controller" in reason(report, "contract_demo_processor_to_controller")


def test_facts_and_policy_must_name_the_same_client(policies: dict) -> None:
    with pytest.raises(ValueError, match="no policy"):
        obligations_for(facts(client="demo"))
    with pytest.raises(ValueError, match="policy is 'demo'"):
        obligations_for(facts(client="harbour-pine"), policies["demo"])


def test_every_row_is_either_applicable_or_explained() -> None:
    report: ObligationReport = obligations_for(facts(**EU_PERSONAL))
    ids = [o.id for o in report.obligations] + [n.id for n in report.not_applicable]
    assert sorted(ids) == sorted(r.id for r in load_catalogue().obligations)
    assert all(n.reason for n in report.not_applicable)


def test_next_deadline_is_the_earliest_due_instant() -> None:
    report = obligations_for(facts(data_categories=["payment_card"], sites=["IN"]))
    nxt = report.next_deadline()
    assert nxt is not None
    assert (nxt.obligation_id, nxt.due_at) == (
        "in_certin_2022_cyber_incident",
        utc("2026-06-01T16:00:00+00:00"),
    )
    later = report.next_deadline(after=nxt.due_at)
    assert later is not None and later.obligation_id == "pci_mastercard_adc_event"
