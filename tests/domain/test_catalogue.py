"""The catalogue covers the reference row for row, keeps its sources, and the docs list it."""

from __future__ import annotations

from incidents.facts import EVENT_NAMES, Trigger
from incidents.regimes import load_catalogue
from incidents.taxonomy import TAXONOMY, IncidentType
from tests.domain.conftest import REPO

# The obligation ids of shared/reference/regulatory-regimes.yaml (compiled 2026-11-28).
REFERENCE_IDS = """
eu_gdpr_art33_authority eu_gdpr_art33_processor_to_controller eu_gdpr_art34_data_subjects
uk_gdpr_art33_ico uk_gdpr_art33_processor_to_controller us_hipaa_individuals
us_hipaa_hhs_500_plus us_hipaa_hhs_under_500 us_hipaa_media
us_hipaa_business_associate_to_covered_entity pci_visa_account_data_compromise
pci_mastercard_adc_event us_sec_8k_item_1_05 eu_nis2_art23_significant_incident
eu_nis2_art23_trust_service_provider eu_dora_major_ict_incident
us_circia_covered_cyber_incident us_circia_ransom_payment
us_nydfs_500_17_cybersecurity_incident us_nydfs_500_17_extortion_payment
in_certin_2022_cyber_incident in_dpdp_rule7_board in_dpdp_rule7_data_principals
sg_pdpa_data_intermediary_to_organisation sg_pdpa_assessment sg_pdpa_commission
sg_pdpa_individuals au_ndb_assessment au_ndb_oaic_and_individuals
ca_pipeda_breach_of_security_safeguards br_lgpd_anpd_and_data_subjects jp_appi_ppc_report
jp_appi_data_subjects jp_appi_entrusted_to_entrusting ph_dpa_npc_and_data_subjects
ph_dpa_processor_to_controller za_popia_regulator_and_data_subjects
za_popia_operator_to_responsible_party us_ca_1798_82_individuals
us_ca_1798_82_attorney_general us_co_6_1_716 us_fl_501_171_individuals
us_fl_501_171_department_of_legal_affairs us_fl_501_171_third_party_agent us_wa_19_255
us_ny_gbl_899_aa us_tx_521_053_attorney_general us_tx_521_053_individuals
""".split()


def test_every_reference_row_is_in_the_catalogue_with_its_sources() -> None:
    catalogue = load_catalogue()
    assert sorted(r.id for r in catalogue.obligations) == sorted(REFERENCE_IDS)
    assert all(
        r.sources and all(s.url.startswith("http") for s in r.sources)
        for r in catalogue.obligations
    )


def test_every_stage_trigger_can_be_recorded_or_is_derived() -> None:
    for regime in load_catalogue().obligations:
        for stage in regime.stages:
            assert stage.from_ in EVENT_NAMES or stage.from_ in (
                Trigger.AWARENESS,
                Trigger.END_OF_CALENDAR_YEAR,
            )


def test_docs_table_lists_every_obligation() -> None:
    doc = (REPO / "docs/obligations.md").read_text()
    missing = [r.id for r in load_catalogue().obligations if f"`{r.id}`" not in doc]
    assert missing == []
    assert "contract_<client>_processor_to_controller" in doc


def test_taxonomy_covers_the_bpo_cases_and_maps_each_to_the_references() -> None:
    wanted = {"phishing", "vishing", "smishing", "social_engineering", "account_compromise",
              "malware", "ransomware", "data_leakage", "misdirected_disclosure",
              "unauthorised_access", "lost_or_stolen_asset", "insider_misuse",
              "denial_of_service", "physical_security", "policy_violation", "other"}  # fmt: skip
    assert {t.value for t in IncidentType} == wanted
    for info in TAXONOMY.values():
        assert info.nist_800_61 and info.rsit and info.veris
