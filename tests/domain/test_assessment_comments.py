"""The Jira comment form of an assessment answer: `assess <obligation>: yes|no — <reason>`."""

from __future__ import annotations

import pytest

from incidents.assessments import CommentFormError, parse_comment, question_comment

GDPR = "eu_gdpr_art33_authority"


@pytest.mark.parametrize(
    ("body", "applies", "reason"),
    [
        (
            f"assess {GDPR}: yes — names and emails of 40 people",
            True,
            "names and emails of 40 people",
        ),
        (f"ASSESS {GDPR}: No - encrypted, key not taken", False, "encrypted, key not taken"),
        (f"  assess {GDPR} : no -- nothing left the building", False, "nothing left the building"),
        (
            f"assess {GDPR}: yes: credentials\nmore detail below",
            True,
            "credentials\nmore detail below",
        ),
    ],
)
def test_answers_are_read(body: str, applies: bool, reason: str) -> None:
    assert parse_comment(body) == (GDPR, applies, reason)


@pytest.mark.parametrize(
    "body", ["Called the employee back.", "assess the damage first", "[update] x"]
)
def test_other_comments_are_not_answers(body: str) -> None:
    assert parse_comment(body) is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (f"assess {GDPR}: maybe — still checking", "neither yes nor no"),
        (f"assess {GDPR}: yes", "give the reason"),
        (f"assess {GDPR}:", "write the answer as"),
    ],
)
def test_a_malformed_answer_says_how_to_write_it(body: str, problem: str) -> None:
    with pytest.raises(CommentFormError, match=problem):
        parse_comment(body)


def test_the_question_names_the_obligation_and_both_answers() -> None:
    text = question_comment(GDPR, "GDPR notice", "GDPR Art. 33", "Is it a risk?", 1, 2)
    assert "(question 1 of 2)" in text and "Is it a risk?" in text and "GDPR Art. 33" in text
    assert parse_comment(f"assess {GDPR}: yes — <why it applies>") is not None
    assert f"assess {GDPR}: yes" in text and f"assess {GDPR}: no" in text
