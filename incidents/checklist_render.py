"""The checklist as the agent reads it in Jira: a comment with a task list, in their language.

Jira's task-list form in a comment is one `[ ]` / `[x]` line per item; each line carries the
item's id, which is what the agent writes back (`done <id>: <answer>`), so ticking never
depends on the wording of a translation. Headings come in the agents' languages too.

Also here: which language a client's agents read (`language_for`). The client policy names the
countries of the BPO sites that serve the client (`sites`, first the main floor); the checklist
goes to the agents of that floor, so the first site decides: Filipino for Manila, Spanish for
the Latin American and Spanish floors, English for every other floor (and when none is named).
"""

from __future__ import annotations

from collections.abc import Iterable

from incidents.checklist import ChecklistItem, ChecklistState
from incidents.sop import Language, Section

__all__ = ["WORDS", "language_for", "render_checklist", "render_overdue"]

# Site country (ISO 3166) → the language the floor's agents read. PH floors work in Filipino
# (Tagalog) with English; the Spanish-speaking floors in Spanish.
SITE_LANGUAGES: dict[str, Language] = {
    "PH": Language.TL,
    **{
        country: Language.ES
        for country in ("CO", "MX", "ES", "AR", "CL", "PE", "CR", "GT", "DO", "SV", "HN", "UY")
    },
}

WORDS: dict[Language, dict[str, str]] = {
    Language.EN: {
        Section.QUESTIONS: "Ask the reporter",
        Section.CONTAINMENT: "Contain now (you may)",
        Section.FORBIDDEN: "Never do",
        Section.EVIDENCE: "Evidence to attach",
        "heading": "SOP checklist",
        "how": "Tick an item with a comment: done <id>  (a question: done <id>: <answer>).",
        "required": "required before",
        "contain": "containment",
        "resolve": "resolution",
        "close": "closing",
        "swap": "Reclassified: this checklist replaces the {old} one.",
        "kept": "Answers kept: {ids}.",
        "overdue": "Reminder for the assignee: required checklist items still open after {late}:",
        "lead": "{lead}, required checklist items are still open after {late}; the team lead "
        "has been paged:",
        "fallback": "Shown in English where there is no translation yet: {where}.",
    },
    Language.ES: {
        Section.QUESTIONS: "Pregunte a quien reporta",
        Section.CONTAINMENT: "Contenga ahora (puede hacerlo)",
        Section.FORBIDDEN: "Nunca haga",
        Section.EVIDENCE: "Evidencia para adjuntar",
        "heading": "Lista de verificación (SOP)",
        "how": "Marque un punto con un comentario: done <id>  (una pregunta: done <id>: "
        "<respuesta>).",
        "required": "obligatorio antes de",
        "contain": "la contención",
        "resolve": "la resolución",
        "close": "el cierre",
        "swap": "Reclasificado: esta lista reemplaza la de {old}.",
        "kept": "Respuestas conservadas: {ids}.",
        "overdue": "Recordatorio para la persona asignada: puntos obligatorios abiertos tras "
        "{late}:",
        "lead": "{lead}, hay puntos obligatorios abiertos tras {late}; se avisó al líder del "
        "equipo:",
        "fallback": "En inglés donde aún no hay traducción: {where}.",
    },
    Language.TL: {
        Section.QUESTIONS: "Itanong sa nag-report",
        Section.CONTAINMENT: "Pigilan ngayon (puwede mong gawin)",
        Section.FORBIDDEN: "Huwag kailanman gawin",
        Section.EVIDENCE: "Ebidensyang i-attach",
        "heading": "SOP checklist",
        "how": "Markahan ang item sa comment: done <id>  (tanong: done <id>: <sagot>).",
        "required": "kailangan bago ang",
        "contain": "containment",
        "resolve": "resolution",
        "close": "pagsasara",
        "swap": "Na-reclassify: pinalitan ng checklist na ito ang sa {old}.",
        "kept": "Mga sagot na itinago: {ids}.",
        "overdue": "Paalala sa naka-assign: bukas pa ang mga kailangang item pagkalipas ng {late}:",
        "lead": "{lead}, bukas pa ang mga kailangang item pagkalipas ng {late}; na-page na ang "
        "team lead:",
        "fallback": "Nasa Ingles kung wala pang salin: {where}.",
    },
}


def language_for(sites: Iterable[str]) -> Language:
    for site in sites:
        return SITE_LANGUAGES.get(site, Language.EN)
    return Language.EN


def _line(item: ChecklistItem, words: dict[str, str]) -> str:
    if item.section is Section.FORBIDDEN:
        return f"(x) {item.text}  [{item.id}]"
    box = "[x]" if item.done else "[ ]"
    gate = f" *{words['required']} {words[item.gate.value]}*" if item.gate is not None else ""
    answer = f" — {item.answer}" if item.answer else ""
    return f"{box} {item.id}: {item.text}{gate}{answer}"


def render_checklist(
    state: ChecklistState, swapped_from: str | None = None, kept: Iterable[str] = ()
) -> str:
    words = WORDS[state.language]
    lines = [f"{words['heading']}: {state.title} ({state.incident_type.value})"]
    if swapped_from:
        lines.append(words["swap"].format(old=swapped_from))
        kept = list(kept)
        if kept:
            lines.append(words["kept"].format(ids=", ".join(kept)))
    lines.append(words["how"])
    for section in Section:
        items = [i for i in state.items if i.section is section]
        if items:
            lines += ["", f"{words[section]}:", *(_line(i, words) for i in items)]
    if state.fallbacks:
        lines += ["", words["fallback"].format(where=", ".join(state.fallbacks))]
    return "\n".join(lines)


def render_overdue(state: ChecklistState, late: str, lead: str | None = None) -> str:
    words = WORDS[state.language]
    head = (
        words["lead"].format(lead=lead, late=late) if lead else words["overdue"].format(late=late)
    )
    return "\n".join([head, *(_line(i, words) for i in state.open_required), words["how"]])
