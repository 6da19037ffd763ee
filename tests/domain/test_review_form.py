"""Reading the review sub-task back: answers under headings, in the description or comments."""

from __future__ import annotations

from incidents.review_form import read_review, subtask_description, subtask_summary

FORM = subtask_description("SEC-7", "2026-12-06T08:00:00+00:00")


def fill(**answers: str) -> str:
    prompts = {
        "root_cause": "(What let this happen?)",
        "went_well": "(In detecting, reporting and handling it.)",
        "to_improve": "(Process, tooling, client communication.)",
        "training_needs": "(Who needs what, by when?)",
    }
    text = FORM
    for name, answer in answers.items():
        text = text.replace(prompts[name], answer)
    return text


def test_the_untouched_form_answers_nothing() -> None:
    assert subtask_summary("SEC-7") == "Post-incident review — SEC-7"
    read = read_review(FORM, [])
    assert read.answers is None
    assert read.missing == ("Root cause", "What went well", "What to improve", "Training needs")


def test_answers_in_the_description() -> None:
    read = read_review(
        fill(
            root_cause="Password reused\nacross two systems",
            went_well="Fast report",
            to_improve="MFA everywhere",
            training_needs="Password hygiene for team 2",
        ),
        [],
    )
    assert read.missing == () and read.answers is not None
    assert read.answers.root_cause == "Password reused\nacross two systems"
    assert read.answers.training_needs == "Password hygiene for team 2"


def test_comments_fill_gaps_and_the_newest_answer_wins() -> None:
    description = fill(root_cause="Unknown yet", went_well="Fast report")
    comments = [
        "h3. Root cause\nA phished supervisor account\n\n*What to improve*: phishing filter",
        "Root cause: a phished supervisor account, confirmed by the SIEM",
        "## Training needs\nPhishing drill, all agents, by March",
    ]
    read = read_review(description, comments)
    assert read.answers is not None
    assert read.answers.root_cause == "a phished supervisor account, confirmed by the SIEM"
    assert read.answers.went_well == "Fast report"
    assert read.answers.to_improve == "phishing filter"
    assert read.answers.training_needs == "Phishing drill, all agents, by March"


def test_missing_answers_are_named_and_a_refusal_comment_answers_nothing() -> None:
    refusal = (
        "Incident Desk did not close the incident: the review has no answer for: What went "
        "well, Training needs."
    )
    read = read_review(fill(root_cause="x", to_improve="y"), [refusal])
    assert read.answers is None and read.missing == ("What went well", "Training needs")
