"""Validate the gateway's answers against OpenAI's published schema (tests/gateway/data/).

The schema file is a cut of openai/openai-openapi's `openapi.json` (its header names the
commit; `tools/openai_schema.py` makes it). OpenAPI's `nullable: true` is turned into
JSON Schema's `null` type so a standard validator reads it as OpenAI means it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_FILE = Path(__file__).parent / "data" / "openai_schema.json"


def with_nulls(node: Any) -> Any:
    """`nullable: true` as JSON Schema says it."""
    if isinstance(node, list):
        return [with_nulls(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: with_nulls(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        else:
            return {"anyOf": [converted, {"type": "null"}]}
    return converted


@cache
def document() -> dict[str, Any]:
    """The cut schema, nulls converted."""
    data = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return {"components": with_nulls(data["components"])}


def problems(component: str, instance: Any) -> list[str]:
    """Every way `instance` breaks OpenAI's `component` schema (empty when it validates)."""
    schema = {**document(), "$ref": f"#/components/schemas/{component}"}
    validator = Draft202012Validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]
