"""Telling the client (the controller) about an incident, and proving that it heard.

The BPO is usually the processor: the law and the contract make it tell its client first, and
the client then runs its own clocks (GDPR's 72 hours start when the controller is aware). So the
notice carries what the client needs to meet those clocks — classified facts, the obligations the
client owes and when, whom to ask — and nothing more: no reporter, no free text (the summary and
description may quote a caller). The client's acknowledgement is evidence and is kept as such.

Pure: the workflow builds `NoticeContent`, the notify activity renders it per recipient (the
signed link is only known there, so it never enters history).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from incidents.clocks import ClockStatus, ObligationClock

NOTIFICATION = "notification"
REMINDER = "reminder"
ALTERNATES = "alternates"


class Recipient(BaseModel):
    name: str
    email: str
    language: str = "en"


class ObligationLine(BaseModel):
    """One obligation the client owes, as the notice states it."""

    name: str
    stage: str
    due_at: datetime | None = None
    waits_for: str | None = Field(
        None, description="The trigger a stage without a due instant waits for"
    )


class NoticeContent(BaseModel):
    """What every recipient of one notice is told; personal data is limited to what is listed."""

    kind: str = Field(description="notification, reminder or alternates")
    incident_id: str
    client_name: str
    jira_key: str | None = None
    severity: str
    incident_type: str
    aware_at: datetime
    received_at: datetime
    jurisdictions: list[str] = Field(default_factory=list)
    data_categories: list[str] = Field(default_factory=list)
    records_affected: int | None = None
    contract_clause: str | None = None
    client_obligations: list[ObligationLine] = Field(default_factory=list)
    timezone: str = "UTC"
    link_expires_at: datetime


class SentNotice(BaseModel):
    """One email as sent; the message id is the reference the client's acknowledgement names."""

    kind: str
    to: str
    name: str
    language: str
    message_id: str
    sent_at: datetime


class ClientAcknowledgement(BaseModel):
    """Who at the client acknowledged which message, when and from where."""

    contact: str = Field(min_length=3, max_length=320)
    channel: str = Field("link", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    message_id: str | None = Field(None, max_length=998)
    token_id: str | None = Field(
        None, max_length=64, description="Hash of the link's token: proves which link was used"
    )
    ip: str | None = Field(None, max_length=64)
    user_agent: str | None = Field(None, max_length=500)
    at: datetime | None = Field(None, description="Set by the workflow when it records it")


class ClientNotification(BaseModel):
    """The state query's view of the notice loop."""

    recipients: list[str] = Field(default_factory=list)
    notices: list[SentNotice] = Field(default_factory=list)
    acknowledgement: ClientAcknowledgement | None = None
    escalated_to: str | None = None
    escalation_key: str | None = None

    def notified(self, email: str) -> bool:
        return any(n.to.casefold() == email.casefold() for n in self.notices)


def contract_obligation_id(client: str) -> str:
    return f"contract_{client}_processor_to_controller"


def client_obligations(clocks: list[ObligationClock]) -> list[ObligationLine]:
    """The clocks the client itself runs: the reason the notice is urgent."""
    lines = []
    for clock in clocks:
        if not clock.in_force or clock.owed_by != "client":
            continue
        for stage in clock.stages:
            if stage.status is ClockStatus.CANCELLED:
                continue
            waits = stage.trigger if stage.status is ClockStatus.WAITING_TRIGGER else None
            lines.append(
                ObligationLine(
                    name=clock.name, stage=stage.stage, due_at=stage.due_at, waits_for=waits
                )
            )
    return lines


def ack_key(workflow_id: str) -> str:
    """Its own dedup key, so the account manager's alert never merges with an on-call page."""
    return f"{workflow_id}~client-ack"


def contact_label(recipients: list[Recipient]) -> str:
    return ", ".join(f"{r.name} <{r.email}>" for r in recipients)


# --- templates ---------------------------------------------------------------------------------

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "subject.notification": "Security incident notice {incident} ({severity}, {type})",
        "subject.reminder": "Reminder: please acknowledge security incident notice {incident}",
        "subject.alternates": "Security incident notice {incident}: your colleagues have not "
        "acknowledged it",
        "greeting": "Dear {name},",
        "intro.notification": "As your processor we notify you of a security incident affecting "
        "the services we provide to {client}.",
        "intro.reminder": "We notified you of the security incident below and have not yet "
        "received your acknowledgement.",
        "intro.alternates": "We notified your security contacts of the security incident below "
        "and none has acknowledged it yet. You are listed as an alternate contact.",
        "facts": "Facts as classified so far",
        "incident": "Incident",
        "ticket": "Our ticket",
        "severity": "Severity",
        "type": "Type",
        "aware": "We became aware at",
        "received": "Reported to us at",
        "jurisdictions": "Jurisdictions",
        "data": "Data categories",
        "records": "People affected",
        "unknown": "not yet known",
        "none": "none identified",
        "contract": "Notice given under",
        "obligations": "Obligations you may owe, with their due instants",
        "no_obligations": "We have identified none for you so far; this may change as facts "
        "are confirmed.",
        "waits": "waits for {trigger}",
        "ack": "Please confirm receipt: open this link and press the button (opening the link "
        "alone does not confirm). It works until {expires}.",
        "no_link": "Please confirm receipt by replying to this email.",
        "questions": "Questions: reply to this email and quote {incident}.",
    },
    "es": {
        "subject.notification": "Aviso de incidente de seguridad {incident} ({severity}, {type})",
        "subject.reminder": "Recordatorio: confirme la recepción del aviso de incidente {incident}",
        "subject.alternates": "Aviso de incidente de seguridad {incident}: sus colegas no han "
        "confirmado la recepción",
        "greeting": "Estimado/a {name}:",
        "intro.notification": "Como encargado del tratamiento le notificamos un incidente de "
        "seguridad que afecta a los servicios que prestamos a {client}.",
        "intro.reminder": "Le notificamos el incidente de seguridad indicado abajo y aún no hemos "
        "recibido su confirmación.",
        "intro.alternates": "Notificamos el incidente de seguridad indicado abajo a sus contactos "
        "de seguridad y ninguno lo ha confirmado. Usted figura como contacto alternativo.",
        "facts": "Hechos clasificados hasta ahora",
        "incident": "Incidente",
        "ticket": "Nuestro ticket",
        "severity": "Gravedad",
        "type": "Tipo",
        "aware": "Tuvimos conocimiento el",
        "received": "Nos fue comunicado el",
        "jurisdictions": "Jurisdicciones",
        "data": "Categorías de datos",
        "records": "Personas afectadas",
        "unknown": "aún no se sabe",
        "none": "ninguna identificada",
        "contract": "Aviso conforme a",
        "obligations": "Obligaciones que pueden corresponderle, con sus plazos",
        "no_obligations": "Por ahora no hemos identificado ninguna; puede cambiar cuando se "
        "confirmen los hechos.",
        "waits": "pendiente de {trigger}",
        "ack": "Confirme la recepción: abra este enlace y pulse el botón (abrir el enlace no basta). "
        "Es válido hasta {expires}.",
        "no_link": "Confirme la recepción respondiendo a este correo.",
        "questions": "Preguntas: responda a este correo citando {incident}.",
    },
    "fr": {
        "subject.notification": "Notification d'incident de sécurité {incident} "
        "({severity}, {type})",
        "subject.reminder": "Rappel : merci d'accuser réception de la notification {incident}",
        "subject.alternates": "Notification d'incident de sécurité {incident} : vos collègues "
        "n'en ont pas accusé réception",
        "greeting": "Madame, Monsieur {name},",
        "intro.notification": "En tant que sous-traitant, nous vous notifions un incident de "
        "sécurité touchant les services que nous fournissons à {client}.",
        "intro.reminder": "Nous vous avons notifié l'incident de sécurité ci-dessous et n'avons "
        "pas encore reçu votre accusé de réception.",
        "intro.alternates": "Nous avons notifié l'incident ci-dessous à vos contacts sécurité et "
        "aucun n'en a accusé réception. Vous êtes contact de remplacement.",
        "facts": "Faits qualifiés à ce stade",
        "incident": "Incident",
        "ticket": "Notre ticket",
        "severity": "Gravité",
        "type": "Type",
        "aware": "Connaissance de l'incident le",
        "received": "Signalé le",
        "jurisdictions": "Juridictions",
        "data": "Catégories de données",
        "records": "Personnes concernées",
        "unknown": "pas encore connu",
        "none": "aucune identifiée",
        "contract": "Notification au titre de",
        "obligations": "Obligations qui peuvent vous incomber, avec leurs échéances",
        "no_obligations": "Aucune identifiée à ce stade ; cela peut changer une fois les faits "
        "confirmés.",
        "waits": "en attente de {trigger}",
        "ack": "Merci d'accuser réception : ouvrez ce lien et appuyez sur le bouton (ouvrir le "
        "lien ne suffit pas). Valable jusqu'au {expires}.",
        "no_link": "Merci d'accuser réception en répondant à ce courriel.",
        "questions": "Questions : répondez à ce courriel en citant {incident}.",
    },
}
DEFAULT_LANGUAGE = "en"


def template_language(language: str) -> str:
    """The template used for a contact's language: `es-MX` uses `es`; unknown ones English."""
    base = language.split("-")[0].lower()
    return base if base in TEMPLATES else DEFAULT_LANGUAGE


def render(content: NoticeContent, recipient: Recipient, ack_url: str | None) -> tuple[str, str]:
    """Subject and plain-text body for one recipient. The subject carries no free text: it is
    what mail gateways, phones' lock screens and ticketing systems show to anyone."""
    t = TEMPLATES[template_language(recipient.language)]
    tz = ZoneInfo(content.timezone)

    def at(instant: datetime) -> str:
        local = instant.astimezone(tz)
        return f"{local.isoformat(timespec='minutes')} ({content.timezone})"

    subject = t[f"subject.{content.kind}"].format(
        incident=content.incident_id, severity=content.severity, type=content.incident_type
    )
    lines = [
        t["greeting"].format(name=recipient.name),
        "",
        t[f"intro.{content.kind}"].format(client=content.client_name),
        "",
        f"{t['facts']}:",
        f"- {t['incident']}: {content.incident_id}",
    ]
    if content.jira_key:
        lines.append(f"- {t['ticket']}: {content.jira_key}")
    lines += [
        f"- {t['severity']}: {content.severity}",
        f"- {t['type']}: {content.incident_type}",
        f"- {t['aware']}: {at(content.aware_at)}",
        f"- {t['received']}: {at(content.received_at)}",
        f"- {t['jurisdictions']}: {', '.join(content.jurisdictions) or t['unknown']}",
        f"- {t['data']}: {', '.join(content.data_categories) or t['none']}",
        f"- {t['records']}: "
        + (t["unknown"] if content.records_affected is None else str(content.records_affected)),
    ]
    if content.contract_clause:
        lines.append(f"- {t['contract']}: {content.contract_clause}")
    lines += ["", f"{t['obligations']}:"]
    if content.client_obligations:
        for line in content.client_obligations:
            when = (
                at(line.due_at) if line.due_at else t["waits"].format(trigger=line.waits_for or "-")
            )
            lines.append(f"- {line.name} ({line.stage}): {when}")
    else:
        lines.append(t["no_obligations"])
    lines.append("")
    if ack_url:
        lines += [t["ack"].format(expires=at(content.link_expires_at)), ack_url]
    else:
        lines.append(t["no_link"])
    lines += ["", t["questions"].format(incident=content.incident_id)]
    return subject, "\n".join(lines) + "\n"
