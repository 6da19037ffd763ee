"""A workflow that runs the domain rules inside Temporal's workflow sandbox the way
IncidentWorkflow is advised to: `incidents` imported through `imports_passed_through()`, the
catalogue and the holiday tables handed in as data (from an activity in the real workflow), and
the default sandbox restrictions. A clock read, a file opened at run time or a call into
`holidays` would fail the workflow task."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from incidents.calendars import HolidayTables
    from incidents.classification import Classification, classify
    from incidents.facts import IncidentFacts
    from incidents.policy import ClientPolicy
    from incidents.regimes import Catalogue
    from incidents.severity import SeverityAnswers


@workflow.defn(sandboxed=True)
class ClassifyInSandbox:
    @workflow.run
    async def run(
        self,
        facts: IncidentFacts,
        policy: ClientPolicy,
        catalogue: Catalogue,
        holidays: HolidayTables,
    ) -> Classification:
        return classify(facts, SeverityAnswers(ongoing=True), policy, catalogue, holidays)
