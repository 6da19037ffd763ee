"""A workflow that runs the domain rules inside Temporal's workflow sandbox.

The domain modules are imported here the strict way, inside the sandbox and not passed through,
so the test fails if any of them reads the clock, opens files at run time or otherwise does what
the sandbox forbids. The catalogue comes in as an argument, as the workflow is advised to do.
"""

from __future__ import annotations

from temporalio import workflow

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
    ) -> Classification:
        return classify(facts, SeverityAnswers(ongoing=True), policy, catalogue)
