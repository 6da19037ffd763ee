#!/usr/bin/env sh
# Register Incident Desk's search attributes in a self-hosted Temporal namespace, with the
# `temporal` CLI. Generated from workflows/names.py by
#   incident-desk temporal register-search-attributes --print-commands
# (tests/unit/test_register_search_attributes.py keeps the two in step). The same registration
# without the CLI binary, idempotently and over TLS/API key as the workers connect:
#   incident-desk temporal register-search-attributes
# Connection: the `temporal` CLI reads TEMPORAL_ADDRESS, TEMPORAL_TLS_* and TEMPORAL_API_KEY.
# Temporal Cloud: use `tcld namespace search-attributes add` or the Cloud UI (docs/deploy.md).
# A second run reports the attributes that exist already; that is harmless.
set -u  # not -e: an attribute that exists already must not stop the rest
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
temporal operator search-attribute create --namespace "$NAMESPACE" --name IncidentState --type Keyword
temporal operator search-attribute create --namespace "$NAMESPACE" --name IncidentSeverity --type Keyword
temporal operator search-attribute create --namespace "$NAMESPACE" --name IncidentType --type Keyword
temporal operator search-attribute create --namespace "$NAMESPACE" --name IncidentClient --type Keyword
temporal operator search-attribute create --namespace "$NAMESPACE" --name JiraKey --type Keyword
temporal operator search-attribute create --namespace "$NAMESPACE" --name Regimes --type KeywordList
temporal operator search-attribute create --namespace "$NAMESPACE" --name NextDeadline --type Datetime
temporal operator search-attribute create --namespace "$NAMESPACE" --name DeadlineBreached --type Bool
temporal operator search-attribute create --namespace "$NAMESPACE" --name ReportKeys --type KeywordList
