"""Swagger 2.0 → OpenAPI 3.0, for the parts of a spec that contract tests exercise.

openapi-core reads OpenAPI 3 only and Opsgenie publishes Swagger 2.0 (specs README §5). The npm
`swagger2openapi` would do this, but a Node toolchain in CI for one file is a poor trade; the
conversion a validator needs is small and mechanical:

- `host`/`basePath`/`schemes` → `servers`;
- `definitions` → `components/schemas`, top-level `parameters`/`responses`/`securityDefinitions`
  → `components/...`, with every `#/definitions/...` etc. `$ref` rewritten;
- a `body` parameter → `requestBody` (JSON), `formData` parameters → a form `requestBody`;
- other parameters' `type`/`format`/`enum`/`items`/... → their `schema`;
- a response `schema` → `content: {application/json: {schema}}`, response headers likewise;
- Swagger's string `discriminator` is dropped: OpenAPI 3's object form would send validators
  looking for schemas named after each value (`team`, `user`), which Opsgenie never defined;
  the enum on `type` still constrains the value.

Anything else passes through unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

_REF_PREFIXES = {
    "#/definitions/": "#/components/schemas/",
    "#/parameters/": "#/components/parameters/",
    "#/responses/": "#/components/responses/",
}
_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "multipleOf",
)
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


def _rewrite(node: Any) -> Any:
    """Refs rewritten and Swagger-only schema keywords made OpenAPI 3, recursively."""
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            for old, new in _REF_PREFIXES.items():
                if value.startswith(old):
                    value = new + value[len(old) :]
            out[key] = value
        elif key == "discriminator" and isinstance(value, str):
            continue
        elif key == "x-nullable":
            out["nullable"] = value
        elif key == "type" and value == "file":
            out["type"] = "string"
            out["format"] = "binary"
        else:
            out[key] = _rewrite(value)
    return out


def _parameter(param: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in param:
        return _rewrite(param)
    converted = {k: v for k, v in param.items() if k not in _SCHEMA_KEYS}
    converted.pop("collectionFormat", None)
    converted.pop("allowEmptyValue", None)
    schema = {k: param[k] for k in _SCHEMA_KEYS if k in param}
    if param.get("collectionFormat") == "multi":
        converted["explode"] = True
        converted["style"] = "form"
    elif param.get("collectionFormat") == "csv":
        converted["explode"] = False
    converted["schema"] = schema
    return _rewrite(converted)


def _resolve_parameter(spec: dict[str, Any], param: dict[str, Any]) -> dict[str, Any]:
    ref = param.get("$ref", "")
    if ref.startswith("#/parameters/"):
        return spec["parameters"][ref.split("/")[-1]]
    return param


def _operation(spec: dict[str, Any], op: dict[str, Any], shared: list[dict[str, Any]]) -> None:
    """Converts one operation in place (it is already a private copy)."""
    consumes = op.pop("consumes", None) or spec.get("consumes") or ["application/json"]
    op.pop("produces", None)
    params: list[dict[str, Any]] = []
    form: dict[str, Any] = {}
    form_required: list[str] = []
    names = {(p.get("name"), p.get("in")) for p in op.get("parameters", [])}
    inherited = [p for p in shared if (p.get("name"), p.get("in")) not in names]
    for raw in [*inherited, *op.get("parameters", [])]:
        param = _resolve_parameter(spec, raw)
        where = param.get("in")
        if where == "body":
            media = "application/json" if "application/json" in consumes else consumes[0]
            op["requestBody"] = {
                "required": bool(param.get("required")),
                "content": {media: {"schema": _rewrite(param.get("schema", {}))}},
            }
            if "description" in param:
                op["requestBody"]["description"] = param["description"]
        elif where == "formData":
            form[param["name"]] = _rewrite({k: param[k] for k in _SCHEMA_KEYS if k in param})
            if param.get("required"):
                form_required.append(param["name"])
        else:
            params.append(_parameter(raw) if "$ref" not in raw else _rewrite(raw))
    if form:
        schema: dict[str, Any] = {"type": "object", "properties": form}
        if form_required:
            schema["required"] = form_required
        media = next((c for c in consumes if "form" in c), "multipart/form-data")
        op["requestBody"] = {"content": {media: {"schema": schema}}}
    if params:
        op["parameters"] = params
    else:
        op.pop("parameters", None)
    op["responses"] = {
        status: _response(response) for status, response in op.get("responses", {}).items()
    }
    for key in list(op):
        if key not in ("parameters", "requestBody", "responses"):
            op[key] = _rewrite(op[key])


def _response(response: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in response:
        return _rewrite(response)
    converted: dict[str, Any] = {"description": response.get("description", "")}
    if "schema" in response:
        converted["content"] = {"application/json": {"schema": _rewrite(response["schema"])}}
    if "headers" in response:
        converted["headers"] = {
            name: {
                "description": header.get("description", ""),
                "schema": _rewrite({k: header[k] for k in _SCHEMA_KEYS if k in header}),
            }
            for name, header in response["headers"].items()
        }
    return converted


def convert(swagger: dict[str, Any]) -> dict[str, Any]:
    """A new OpenAPI 3.0.3 document; the input is left untouched."""
    if not str(swagger.get("swagger", "")).startswith("2"):
        raise ValueError("not a Swagger 2.0 document")
    spec = copy.deepcopy(swagger)
    schemes = spec.get("schemes") or ["https"]
    base = spec.get("basePath", "").rstrip("/")
    servers = [{"url": f"{scheme}://{spec.get('host', 'localhost')}{base}"} for scheme in schemes]
    paths: dict[str, Any] = {}
    for path, item in spec.get("paths", {}).items():
        shared = item.get("parameters", [])
        new_item: dict[str, Any] = {}
        for method, op in item.items():
            if method in _METHODS:
                _operation(spec, op, shared)
                new_item[method] = op
        paths[path] = new_item
    components: dict[str, Any] = {
        "schemas": _rewrite(spec.get("definitions", {})),
        "responses": {k: _response(v) for k, v in spec.get("responses", {}).items()},
        "parameters": {
            k: _parameter(v)
            for k, v in spec.get("parameters", {}).items()
            if v.get("in") not in ("body", "formData")
        },
        "securitySchemes": _rewrite(spec.get("securityDefinitions", {})),
    }
    result: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": spec.get("info", {"title": "converted", "version": "0"}),
        "servers": servers,
        "paths": paths,
        "components": components,
    }
    for key in ("security", "tags", "externalDocs"):
        if key in spec:
            result[key] = spec[key]
    return result


def as_openapi3(spec: dict[str, Any]) -> None:
    """A `Contract` patch: replace the (private copy of the) Swagger document by its conversion."""
    converted = convert(spec)
    spec.clear()
    spec.update(converted)
