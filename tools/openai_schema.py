"""Cut the parts of OpenAI's published OpenAPI document that the gateway's tests validate against.

    python tools/openai_schema.py OPENAPI_JSON COMMIT > tests/gateway/data/openai_schema.json

OPENAPI_JSON is `openapi.json` of the openai/openai-openapi repository at COMMIT. The
output keeps the named component schemas and every schema they refer to, nothing else.
"""

from __future__ import annotations

import json
import sys
from typing import Any

ROOTS = (
    "CreateChatCompletionRequest",
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "ListModelsResponse",
    "ErrorResponse",
)
PREFIX = "#/components/schemas/"


def references(node: Any) -> set[str]:
    """Component names referred to anywhere in `node`."""
    if isinstance(node, dict):
        found = {node["$ref"][len(PREFIX) :]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= references(value)
        return found
    if isinstance(node, list):
        return set().union(*(references(v) for v in node)) if node else set()
    return set()


def cut(document: dict[str, Any]) -> dict[str, Any]:
    """The ROOTS and their transitive references."""
    schemas = document["components"]["schemas"]
    keep: set[str] = set()
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo.extend(references(schemas[name]) - keep)
    return {name: schemas[name] for name in sorted(keep)}


def main(argv: list[str]) -> int:
    path, commit = argv
    with open(path, encoding="utf-8") as file:
        document = json.load(file)
    output = {
        "source": "https://github.com/openai/openai-openapi",
        "path": "openapi.json",
        "commit": commit,
        "openapi_version": document["info"]["version"],
        "roots": list(ROOTS),
        "components": {"schemas": cut(document)},
    }
    json.dump(output, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
