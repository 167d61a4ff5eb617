"""JSON Schema (what OpenAI tools and ``json_schema`` formats carry) → Gemini's
``Schema``, an OpenAPI subset that rejects fields it does not know.

Kept: the fields Gemini's ``Schema`` has. Local ``$ref``s (``#/$defs/...``, as
pydantic writes them) are inlined; ``type: [T, "null"]`` becomes ``nullable``;
``const`` becomes a one-value ``enum``; everything else (``additionalProperties``,
``$schema``, ``strict``...) is left out.
"""

from __future__ import annotations

from typing import Any

SCHEMA_FIELDS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
FORMATS = frozenset({"enum", "date-time", "int32", "int64", "float", "double"})
_MAX_DEPTH = 32  # a recursive $ref must end somewhere


def to_gemini_schema(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    defs = schema.get("$defs") or schema.get("definitions") or {}
    return _convert(schema, defs if isinstance(defs, dict) else {}, 0)


def _convert(node: dict[str, Any], defs: dict[str, Any], depth: int) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and depth < _MAX_DEPTH:
        target = defs.get(ref.rsplit("/", 1)[-1])
        if isinstance(target, dict):
            return _convert(
                {**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs, depth + 1
            )
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type":
            _set_type(out, value)
        elif key == "const":
            out["enum"] = [value]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {
                name: _convert(sub, defs, depth + 1)
                for name, sub in value.items()
                if isinstance(sub, dict)
            }
        elif key == "items" and isinstance(value, dict):
            out[key] = _convert(value, defs, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            _any_of(out, [v for v in value if isinstance(v, dict)], defs, depth)
        elif key == "format":
            if value in FORMATS:
                out[key] = value
        elif key in SCHEMA_FIELDS and key not in out:
            out[key] = value
    if "required" in out and isinstance(out.get("properties"), dict):
        out["required"] = [name for name in out["required"] if name in out["properties"]]
    return out


def _set_type(out: dict[str, Any], value: Any) -> None:
    names = value if isinstance(value, list) else [value]
    kinds = [n for n in names if isinstance(n, str) and n in TYPES and n != "null"]
    if len(kinds) < len(names):
        out["nullable"] = True
    if kinds:
        out["type"] = kinds[0].upper()


def _any_of(
    out: dict[str, Any], options: list[dict[str, Any]], defs: dict[str, Any], depth: int
) -> None:
    # `Optional[X]` arrives as anyOf [X, {type: null}]: that is X, nullable.
    rest = [o for o in options if o.get("type") != "null"]
    if len(rest) < len(options):
        out["nullable"] = True
    if len(rest) == 1:
        out.update({k: v for k, v in _convert(rest[0], defs, depth + 1).items() if k not in out})
    elif rest:
        out["anyOf"] = [_convert(o, defs, depth + 1) for o in rest]
