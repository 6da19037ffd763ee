"""The post-incident review as a Jira sub-task: the form agents fill in, and reading it back.

Agents answer where they already work. The sub-task's description carries one heading per
question; an agent writes the answer under each heading, in the description itself or in a
comment laid out the same way (people often cannot edit descriptions, but can always comment).
Reading back, the description is taken first and the newest comment that answers a question
wins for that question, so a correction in a later comment counts.

A heading is a line that starts with the question's name, optionally as wiki markup (`h3.`),
Markdown (`#`) or bold (`*...*`), optionally followed by a colon and the answer on the same line.
The template's prompt under each heading is not an answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from incidents.lifecycle import ReviewAnswers

# (field of ReviewAnswers, heading, prompt shown under the heading in the template)
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("root_cause", "Root cause", "What let this happen?"),
    ("went_well", "What went well", "In detecting, reporting and handling it."),
    ("to_improve", "What to improve", "Process, tooling, client communication."),
    ("training_needs", "Training needs", "Who needs what, by when?"),
)
_PROMPTS = frozenset(f"({prompt})".casefold() for _, _, prompt in SECTIONS)
_HEADING = re.compile(
    r"^\s*(?:h[1-6]\.\s*|#{1,6}\s*)?\*?\s*(?P<name>"
    + "|".join(re.escape(heading) for _, heading, _ in SECTIONS)
    + r")\s*\??\s*\*?\s*:?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
ANSWER_MAX = 8000


def subtask_summary(parent_key: str) -> str:
    return f"Post-incident review — {parent_key}"


def subtask_description(parent_key: str, due: str) -> str:
    """The form: Jira wiki markup headings, each followed by its prompt in brackets."""
    lines = [
        f"Post-incident review of {parent_key}, due {due}.",
        "",
        "Write the answer under each heading (replace the text in brackets), here or in a "
        "comment with the same headings, then move this sub-task to Done: that closes the "
        "incident. Reporting stages still open must be marked done first.",
        "",
    ]
    for _, heading, prompt in SECTIONS:
        lines += [f"h3. {heading}", f"({prompt})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _sections(text: str) -> dict[str, str]:
    """Answers found in one text, by field; a heading with nothing under it is left out."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    by_heading = {heading.casefold(): name for name, heading, _ in SECTIONS}
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            current = by_heading[match.group("name").casefold()]
            found[current] = [match.group("rest")]
        elif current is not None:
            found[current].append(line)
    answers = {}
    for name, lines in found.items():
        kept = [line for line in lines if line.strip().casefold() not in _PROMPTS]
        answer = "\n".join(kept).strip()
        if answer:
            answers[name] = answer[:ANSWER_MAX]
    return answers


@dataclass(frozen=True)
class ReadReview:
    """What the sub-task answers, and the headings of the questions left unanswered."""

    answers: ReviewAnswers | None
    missing: tuple[str, ...]


def read_review(description: str | None, comments: Iterable[str]) -> ReadReview:
    """`comments` oldest first, as Jira lists them."""
    answers = _sections(description or "")
    for body in comments:
        answers.update(_sections(body))
    missing = tuple(heading for name, heading, _ in SECTIONS if name not in answers)
    if missing:
        return ReadReview(None, missing)
    return ReadReview(ReviewAnswers(**answers), ())
