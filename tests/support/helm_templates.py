"""Render deploy/helm/incident-desk without the `helm` binary (no registry here ships it).

This is NOT Helm: it evaluates the small subset of Go template syntax the chart uses, and
refuses anything else with an error naming it, so a template that reaches for a construct this
does not know fails the test instead of rendering wrongly. The subset: `{{ pipeline }}` with
`{{-`/`-}}` trimming; `if`/`else`/`end`, `range $k, $v := map`, `define`; fields of `.Values`,
`.Release`, `.Chart` and of `$variables`; string and number literals; the functions `include`,
`quote`, `default`, `toYaml`, `nindent`, `indent`. Missing keys are errors, as with
`helm template --strict`. What Helm checks beyond this (`helm lint`, the API server's schema)
is documented in docs/deploy.md as the step to run where `helm` is installed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


class TemplateError(ValueError):
    pass


@dataclass
class _Node:
    kind: str  # text, action, if, range, define
    text: str = ""
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)


def _tokens(source: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    for match in _ACTION.finditer(source):
        text = source[pos : match.start()]
        if match.group(1):
            text = text.rstrip(" \t\n")
        out.append(("text", text))
        out.append(("action", match.group(2)))
        pos = match.end()
        if match.group(3):
            rest = source[pos:]
            pos += len(rest) - len(rest.lstrip(" \t\n"))
    out.append(("text", source[pos:]))
    return out


def _parse(tokens: list[tuple[str, str]], index: int = 0) -> tuple[list[_Node], int, str]:
    nodes: list[_Node] = []
    while index < len(tokens):
        kind, value = tokens[index]
        index += 1
        if kind == "text":
            nodes.append(_Node("text", value))
            continue
        word = value.split(" ", 1)[0]
        if word in ("end", "else"):
            return nodes, index, word
        if word in ("if", "range", "define"):
            node = _Node(word, value[len(word) :].strip())
            node.body, index, stop = _parse(tokens, index)
            if stop == "else":
                if word != "if":
                    raise TemplateError(f"'else' inside '{word}' is not supported")
                node.orelse, index, stop = _parse(tokens, index)
            if stop != "end":
                raise TemplateError(f"'{word} {node.text}' has no end")
            nodes.append(node)
        elif word.startswith("/*"):
            continue
        else:
            nodes.append(_Node("action", value))
    return nodes, index, ""


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (isinstance(value, (dict, list)) and not value)


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n")


class Chart:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.meta = yaml.safe_load((directory / "Chart.yaml").read_text())
        self.defaults = yaml.safe_load((directory / "values.yaml").read_text())
        self.defines: dict[str, list[_Node]] = {}
        for path in sorted((directory / "templates").glob("*.tpl")):
            self._collect(_parse(_tokens(path.read_text()))[0])

    def _collect(self, nodes: list[_Node]) -> None:
        for node in nodes:
            if node.kind == "define":
                self.defines[shlex.split(node.text)[0]] = node.body

    def render(
        self, values: dict[str, Any] | None = None, *, release: str = "desk", namespace: str = "ops"
    ) -> dict[str, str]:
        merged = _merge(self.defaults, values or {})
        root = {
            "Values": merged,
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
            "Chart": {"Name": self.meta["name"], "AppVersion": self.meta["appVersion"],
                      "Version": self.meta["version"]},
        }  # fmt: skip
        out: dict[str, str] = {}
        for path in sorted((self.directory / "templates").glob("*.yaml")):
            nodes = _parse(_tokens(path.read_text()))[0]
            self._collect(nodes)
            try:
                out[path.name] = self._run(nodes, root, {})
            except TemplateError as exc:
                raise TemplateError(f"{path.name}: {exc}") from None
        return out

    def _run(self, nodes: list[_Node], dot: Any, variables: dict[str, Any]) -> str:
        parts: list[str] = []
        for node in nodes:
            if node.kind == "text":
                parts.append(node.text)
            elif node.kind == "action":
                value = self._pipeline(node.text, dot, variables)
                parts.append("" if value is None else _scalar(value))
            elif node.kind == "if":
                chosen = (
                    node.body if _truthy(self._pipeline(node.text, dot, variables)) else node.orelse
                )
                parts.append(self._run(chosen, dot, variables))
            elif node.kind == "range":
                match = re.fullmatch(r"\$(\w+),\s*\$(\w+)\s*:=\s*(.+)", node.text)
                if not match:
                    raise TemplateError(f"range form not supported: {node.text}")
                collection = self._pipeline(match.group(3), dot, variables)
                items = (
                    sorted(collection.items())
                    if isinstance(collection, dict)
                    else list(enumerate(collection or []))
                )
                for key, value in items:
                    scope = {**variables, match.group(1): key, match.group(2): value}
                    parts.append(self._run(node.body, dot, scope))
        return "".join(parts)

    def _pipeline(self, text: str, dot: Any, variables: dict[str, Any]) -> Any:
        value: Any = _NOTHING
        for command in (c.strip() for c in _split_pipes(text)):
            words = shlex.split(command, posix=False)
            args = [self._argument(w, dot, variables) for w in words[1:]]
            if value is not _NOTHING:
                args.append(value)
            value = self._call(words[0], args, dot, variables)
        return value

    def _call(self, name: str, args: list[Any], dot: Any, variables: dict[str, Any]) -> Any:
        if name == "include":
            template, context = args
            if template not in self.defines:
                raise TemplateError(f"include of unknown template {template!r}")
            return self._run(self.defines[template], context, {}).strip("\n")
        if name == "quote":
            return '"' + str(_scalar(args[0])).replace("\\", "\\\\").replace('"', '\\"') + '"'
        if name == "default":
            fallback, given = args
            return given if _truthy(given) else fallback
        if name == "toYaml":
            return _yaml(args[0])
        if name in ("nindent", "indent"):
            width, text = args
            pad = " " * int(width)
            indented = "\n".join(pad + line if line else line for line in str(text).split("\n"))
            return ("\n" if name == "nindent" else "") + indented
        if args:
            raise TemplateError(f"function {name!r} is not supported")
        return self._argument(name, dot, variables)

    def _argument(self, word: str, dot: Any, variables: dict[str, Any]) -> Any:
        if word.startswith('"'):
            return word[1:-1]
        if re.fullmatch(r"-?\d+", word):
            return int(word)
        if word == ".":
            return dot
        if word.startswith("$"):
            name, _, rest = word[1:].partition(".")
            if name not in variables:
                raise TemplateError(f"undefined variable ${name}")
            return _path(variables[name], rest, word)
        if word.startswith("."):
            return _path(dot, word[1:], word)
        raise TemplateError(f"function {word!r} is not supported")


_NOTHING = object()


def _split_pipes(text: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "|" and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _path(value: Any, dotted: str, shown: str) -> Any:
    for key in filter(None, dotted.split(".")):
        if not isinstance(value, dict) or key not in value:
            raise TemplateError(f"{shown}: no key {key!r}")
        value = value[key]
    return value


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
