"""A workflow that imports the domain modules the strict way, inside the sandbox and not passed
through: importing them and decoding their models (what happens to every workflow argument and
activity result) must work without any special worker configuration."""

from __future__ import annotations

from temporalio import workflow

from incidents.classification import Classification
from incidents.facts import IncidentFacts
from incidents.policy import ClientPolicy
from incidents.regimes import Catalogue


@workflow.defn(sandboxed=True)
class DecodeInSandbox:
    @workflow.run
    async def run(
        self, facts: IncidentFacts, policy: ClientPolicy, catalogue: Catalogue
    ) -> list[str]:
        assert Classification.model_fields
        return [str(facts.aware_at), policy.id, str(len(catalogue.obligations))]
