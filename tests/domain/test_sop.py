"""SOP checklists per incident type (policies/sops): every type has one, bad files are named with
their field, missing translations fall back to English and say so, client overrides merge, and
`incident-desk sop show|check` print what an agent and an author need."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from incident_desk.sop_cli import register
from incidents.policy import ClientPolicy, PolicyError, load_policy
from incidents.sop import (
    Language,
    Section,
    Sop,
    SopError,
    SopOverride,
    checklist_for,
    load_sop,
    load_sops,
    merge,
    resolve,
)
from incidents.taxonomy import IncidentType
from tests.domain.conftest import REPO

SOPS = REPO / "policies" / "sops"

MINIMAL = """\
incident_type: phishing
title: {en: Phishing}
questions:
  - id: link_clicked
    required: true
    text: {en: "Did you click the link?", es: "¿Hizo clic en el enlace?"}
forbidden:
  - id: no_forwarding
    text: {en: Never forward it.}
"""


@pytest.fixture(scope="module")
def sops() -> dict[IncidentType, Sop]:
    return load_sops(SOPS)


def write(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(body, encoding="utf-8")
    return path


# --- the shipped SOPs ---------------------------------------------------------------------------


def test_every_taxonomy_type_has_an_sop(sops: dict[IncidentType, Sop]) -> None:
    assert set(sops) == set(IncidentType)
    assert {p.stem for p in SOPS.glob("*.yaml")} == {t.value for t in IncidentType}


@pytest.mark.parametrize("incident_type", list(IncidentType))
def test_each_sop_is_complete_and_fully_translated(
    sops: dict[IncidentType, Sop], incident_type: IncidentType
) -> None:
    sop = sops[incident_type]
    assert sop.incident_type == incident_type
    assert sop.questions and sop.forbidden and sop.evidence
    assert any(item.required for item in sop.questions)
    for language in Language:
        checklist = checklist_for(sops, incident_type, None, language)
        assert checklist.fallbacks == (), f"{incident_type}: missing {language} text"
        assert checklist.required_ids
        assert all(item.language == language for item in checklist.items)


def test_phishing_asks_what_the_issue_names(sops: dict[IncidentType, Sop]) -> None:
    checklist = checklist_for(sops, IncidentType.PHISHING)
    ids = {i.id for i in checklist.section(Section.QUESTIONS)}
    assert {"link_clicked", "credentials_entered", "sender_address", "time_received"} <= ids
    forbidden = [i.text for i in checklist.section(Section.FORBIDDEN)]
    assert any("forward" in text for text in forbidden)
    assert all(not i.required for i in checklist.section(Section.FORBIDDEN))
    lost = {i.id for i in checklist_for(sops, IncidentType.LOST_OR_STOLEN_ASSET).items}
    assert {"device_type", "encrypted", "last_seen", "data_on_it"} <= lost


# --- validation names the file and the field -----------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.pop("title"), "title"),
        (lambda d: d["title"].pop("en"), "title.en"),
        (lambda d: d["title"].update(fr="Hameçonnage"), "title.fr"),
        (lambda d: d.update(incident_type="fishing"), "incident_type"),
        (lambda d: d["questions"][0].update(id="Link Clicked"), "questions.0.id"),
        (lambda d: d["questions"][0]["text"].update(en=""), "questions.0.text.en"),
        (lambda d: d["questions"][0].update(required="sometimes"), "questions.0.required"),
        (lambda d: d["forbidden"][0].update(required=True), "forbidden.0.required"),
        (lambda d: d.update(questions=[]), "questions"),
        (lambda d: d.update(steps=[]), "steps"),
        (
            lambda d: d.update(hotlines=[{"name": {"en": "Desk"}, "number": "12"}]),
            "hotlines.0.number",
        ),
        (
            lambda d: d["forbidden"][0].update(id="link_clicked"),
            "item ids must be unique: link_clicked",
        ),
    ],
)
def test_a_bad_sop_names_the_file_and_the_field(tmp_path: Path, edit, field: str) -> None:
    data = yaml.safe_load(MINIMAL)
    edit(data)
    path = write(tmp_path, "phishing.yaml", yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(SopError) as caught:
        load_sop(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert field in message


def test_the_type_must_match_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "vishing.yaml", MINIMAL)
    with pytest.raises(SopError, match=r"vishing\.yaml: incident_type: 'phishing' must match"):
        load_sop(path)


def test_not_yaml_and_not_a_mapping_are_named(tmp_path: Path) -> None:
    with pytest.raises(SopError, match=r"phishing\.yaml: not valid YAML"):
        load_sop(write(tmp_path, "phishing.yaml", "questions: [\n"))
    with pytest.raises(SopError, match=r"phishing\.yaml: expected a mapping"):
        load_sop(write(tmp_path, "phishing.yaml", "- a\n"))


def test_the_directory_must_cover_every_type_and_only_types(tmp_path: Path) -> None:
    shutil.copytree(SOPS, tmp_path, dirs_exist_ok=True)
    (tmp_path / "ransomware.yaml").unlink()
    write(tmp_path, "phishing.yaml", MINIMAL.replace("{en: Phishing}", "{}"))
    write(tmp_path, "tailgating.yaml", MINIMAL)
    with pytest.raises(SopError) as caught:
        load_sops(tmp_path)
    lines = str(caught.value).splitlines()
    assert any(line.startswith(f"{tmp_path / 'phishing.yaml'}: title.en") for line in lines)
    assert any(
        line.startswith(f"{tmp_path / 'tailgating.yaml'}: not an incident type") for line in lines
    )
    missing = [line for line in lines if "no SOP for" in line]
    assert missing == [
        f"{tmp_path}: incident_type: no SOP for ransomware (expected ransomware.yaml)"
    ]


# --- language fallback ------------------------------------------------------------------------


def test_a_missing_translation_falls_back_to_english_and_says_so(tmp_path: Path) -> None:
    sop = load_sop(write(tmp_path, "phishing.yaml", MINIMAL))
    spanish = resolve(sop, Language.ES)
    assert spanish.title == "Phishing"
    by_id = {i.id: i for i in spanish.items}
    assert by_id["link_clicked"].text == "¿Hizo clic en el enlace?"
    assert by_id["link_clicked"].language == Language.ES
    assert by_id["no_forwarding"].text == "Never forward it."
    assert by_id["no_forwarding"].language == Language.EN
    assert spanish.fallbacks == ("title", "forbidden.no_forwarding")
    tagalog = resolve(sop, Language.TL)
    assert tagalog.fallbacks == ("title", "questions.link_clicked", "forbidden.no_forwarding")
    assert resolve(sop, Language.EN).fallbacks == ()


# --- client overrides --------------------------------------------------------------------------


def test_the_shipped_client_override_merges(
    sops: dict[IncidentType, Sop], policies: dict[str, ClientPolicy]
) -> None:
    pine = policies["harbour-pine"]
    base = checklist_for(sops, IncidentType.SMISHING, None, Language.ES)
    merged = checklist_for(sops, IncidentType.SMISHING, pine, Language.ES)
    assert merged.client == "harbour-pine"
    # A replaced item keeps its place; an added one ends its section.
    assert [i.id for i in merged.items] == [
        *(i.id for i in base.items if i.section != Section.EVIDENCE),
        "no_refund_promises",
        *(i.id for i in base.section(Section.EVIDENCE)),
    ]
    by_id = {i.id: i for i in merged.items}
    assert by_id["block_card"].source == "client:harbour-pine"
    assert by_id["block_card"].required and not {i.id: i for i in base.items}["block_card"].required
    assert "Harbour & Pine" in by_id["block_card"].text
    assert by_id["no_refund_promises"].section == Section.FORBIDDEN
    assert by_id["keep_message"].source == "sop"
    assert [(h.number, h.source) for h in merged.hotlines] == [
        ("+442079460500", "client:harbour-pine")
    ]
    assert merged.fallbacks == ()
    # Another type of the same client, and another client, see the BPO's SOP unchanged.
    assert checklist_for(sops, IncidentType.PHISHING, pine).items == (
        checklist_for(sops, IncidentType.PHISHING).items
    )
    demo = checklist_for(sops, IncidentType.SMISHING, policies["demo"])
    assert demo.client == "demo"
    assert demo.items == checklist_for(sops, IncidentType.SMISHING).items


def test_an_override_replaces_adds_removes_and_falls_back(tmp_path: Path) -> None:
    sop = load_sop(write(tmp_path, "phishing.yaml", MINIMAL))
    override = SopOverride.model_validate(
        {
            "questions": [
                {"id": "link_clicked", "text": {"en": "Clicked?", "tl": "Pinindot mo ba?"}},
                {"id": "client_ref", "required": True, "text": {"en": "Customer number?"}},
            ],
            "remove": ["no_forwarding"],
            "hotlines": [{"name": {"en": "Acme SOC"}, "number": "+15550100200"}],
        }
    )
    merged, sources = merge(sop, override, "client:acme")
    assert [i.id for i in merged.questions] == ["link_clicked", "client_ref"]
    assert merged.forbidden == ()
    assert sources == {"link_clicked": "client:acme", "client_ref": "client:acme"}
    checklist = resolve(
        merged, Language.TL, client="acme", sources=sources, client_hotlines=override.hotlines
    )
    assert checklist.required_ids == ("client_ref",)
    assert checklist.fallbacks == ("title", "questions.client_ref", "hotlines.0.name")
    assert checklist.hotlines[0].source == "client:acme"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"remove": ["nope"]}, "client:acme: sop_overrides.phishing.remove.0: no item 'nope'"),
        (
            {"containment": [{"id": "link_clicked", "text": {"en": "x"}}]},
            "sop_overrides.phishing.containment.0.id: 'link_clicked' is a questions item",
        ),
        (
            {
                "remove": ["link_clicked"],
                "questions": [{"id": "link_clicked", "text": {"en": "x"}}],
            },
            "sop_overrides.phishing.questions.0.id: 'link_clicked' is also in remove",
        ),
    ],
)
def test_an_override_that_cannot_apply_is_refused(
    tmp_path: Path, override: dict, message: str
) -> None:
    sop = load_sop(write(tmp_path, "phishing.yaml", MINIMAL))
    with pytest.raises(SopError, match=message.replace(".", r"\.")):
        merge(sop, SopOverride.model_validate(override), "client:acme")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("sop_overrides: {phisshing: {}}\n", "sop_overrides.phisshing"),
        (
            "sop_overrides: {phishing: {questions: [{id: q}]}}\n",
            "sop_overrides.phishing.questions.0.text",
        ),
        ("sop_overrides: {phishing: {hotline: []}}\n", "sop_overrides.phishing.hotline"),
    ],
)
def test_a_bad_client_override_names_the_policy_file_and_field(
    tmp_path: Path, body: str, field: str
) -> None:
    path = write(tmp_path, "acme.yaml", "id: acme\nname: Acme\n" + body)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert field in str(caught.value)


def test_policies_without_overrides_default_to_none(policies: dict[str, ClientPolicy]) -> None:
    assert policies["demo"].sop_overrides == {}


# --- CLI ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)
    return app


def run(app: typer.Typer, *args: str, policies: Path = REPO / "policies"):
    return CliRunner().invoke(app, [*args, "--policies-dir", str(policies)])


def test_sop_show_prints_the_checklist(app: typer.Typer) -> None:
    result = run(app, "sop", "show", "phishing")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Phishing email (phishing, en)")
    assert "Ask the reporter:" in out and "Never do:" in out and "Evidence to attach:" in out
    assert "[ ]* Did you click a link or open an attachment in the message?  [link_clicked]" in out
    assert "✗  Never forward the suspicious message to colleagues.  [no_forwarding]" in out
    assert "* required before the incident may move on" in out
    assert "note:" not in out


def test_sop_show_with_client_and_language(app: typer.Typer) -> None:
    result = run(app, "sop", "show", "smishing", "--client", "harbour-pine", "--lang", "tl")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "— client harbour-pine" in out
    assert "Itanong sa nag-report:" in out
    assert "[block_card] (client)" in out
    assert "Card line ng Harbour & Pine: +442079460500" in out
    spanish = run(app, "sop", "show", "smishing", "--lang", "es").stdout
    assert "Pregunte a quien reporta:" in spanish and "(client)" not in spanish


def test_sop_show_json_and_fallback_note(app: typer.Typer, tmp_path: Path) -> None:
    shutil.copytree(REPO / "policies", tmp_path, dirs_exist_ok=True)
    write(tmp_path / "sops", "phishing.yaml", MINIMAL)
    text = run(app, "sop", "show", "phishing", "--lang", "es", policies=tmp_path)
    assert text.exit_code == 0, text.output
    assert "note: no 'es' text for title, forbidden.no_forwarding; shown in English" in text.stdout
    result = run(
        app, "sop", "show", "phishing", "--lang", "es", "--format", "json", policies=tmp_path
    )
    data = json.loads(result.stdout)
    assert data["fallbacks"] == ["title", "forbidden.no_forwarding"]
    assert data["items"][0] == {
        "id": "link_clicked",
        "section": "questions",
        "text": "¿Hizo clic en el enlace?",
        "required": True,
        "gate": "contain",
        "fact": None,
        "language": "es",
        "source": "sop",
    }


def test_sop_show_refuses_unknowns(app: typer.Typer) -> None:
    unknown_client = run(app, "sop", "show", "phishing", "--client", "nobody")
    assert unknown_client.exit_code == 2
    assert "unknown client 'nobody'" in unknown_client.stderr
    assert run(app, "sop", "show", "fishing").exit_code == 2
    assert run(app, "sop", "show", "phishing", "--lang", "fr").exit_code == 2


def test_sop_check_passes_on_the_shipped_files(app: typer.Typer) -> None:
    result = run(app, "sop", "check")
    assert result.exit_code == 0, result.output
    assert f"ok: {len(IncidentType)} SOPs" in result.stdout
    assert "harbour-pine.yaml sop_overrides.smishing" in result.stdout


def test_sop_check_names_the_file_and_field(app: typer.Typer, tmp_path: Path) -> None:
    shutil.copytree(REPO / "policies", tmp_path, dirs_exist_ok=True)
    bad = write(
        tmp_path / "sops",
        "malware.yaml",
        MINIMAL.replace("phishing", "malware", 1).replace("id: link_clicked", "id: Bad Id"),
    )
    result = run(app, "sop", "check", policies=tmp_path)
    assert result.exit_code == 1
    assert f"error: {bad}: questions.0.id:" in result.stderr


def test_sop_check_names_a_client_override_that_does_not_apply(
    app: typer.Typer, tmp_path: Path
) -> None:
    shutil.copytree(REPO / "policies", tmp_path, dirs_exist_ok=True)
    client = write(
        tmp_path / "clients",
        "acme.yaml",
        "id: acme\nname: Acme\nsop_overrides: {vishing: {remove: [no_such_item]}}\n",
    )
    result = run(app, "sop", "check", policies=tmp_path)
    assert result.exit_code == 1
    assert (
        f"error: {client}: sop_overrides.vishing.remove.0: no item 'no_such_item'" in result.stderr
    )
