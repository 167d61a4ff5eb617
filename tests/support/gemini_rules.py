"""The rules a fake Gemini enforces on a ``generateContent`` request, as the real API
does: known fields only, roles ``user``/``model``, function responses right after
their calls (``fake_gemini`` serves them)."""

from __future__ import annotations

from typing import Any

TOP_LEVEL = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
}
GENERATION_CONFIG = {
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
}
THINKING_CONFIG = {"thinkingBudget", "includeThoughts", "thinkingLevel"}
SCHEMA = {
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
TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
PART_DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse"}
PART_EXTRA = {"thought", "thoughtSignature"}


class Refused(Exception):
    def __init__(self, status: int, error_status: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error_status = error_status
        self.extra = extra


def invalid(message: str) -> Refused:
    return Refused(400, "INVALID_ARGUMENT", message)


def _known(obj: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise invalid(f"Invalid value at '{where}': expected an object")
    for name in obj:
        if name not in allowed:
            raise invalid(
                f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': "
                "Cannot find field."
            )
    return obj


def check_schema(schema: Any, where: str) -> None:
    _known(schema, SCHEMA, where)
    kind = schema.get("type")
    if kind is not None and kind not in TYPES:
        raise invalid(f"Invalid value at '{where}.type': \"{kind}\"")
    if kind == "OBJECT" and "properties" in schema and not schema["properties"]:
        raise invalid(f"{where}.properties: should be non-empty for OBJECT type")
    for name, sub in (schema.get("properties") or {}).items():
        check_schema(sub, f"{where}.properties[{name}]")
    if "items" in schema:
        check_schema(schema["items"], f"{where}.items")
    for i, sub in enumerate(schema.get("anyOf") or []):
        check_schema(sub, f"{where}.any_of[{i}]")


def check_request(body: Any) -> None:
    _known(body, TOP_LEVEL, "")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified")
    previous: dict[str, Any] | None = None
    for i, content in enumerate(contents):
        role = content.get("role")
        if role not in ("user", "model"):
            raise invalid("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise invalid(
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )
        for part in parts:
            _known(part, PART_DATA | PART_EXTRA, f"contents[{i}].parts[0]")
            if len(PART_DATA & set(part)) != 1:
                raise invalid(f"contents[{i}]: a part holds exactly one kind of data")
        responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
        calls = [p["functionCall"] for p in parts if "functionCall" in p]
        if responses:
            called = [c["name"] for c in _calls(previous)]
            if not called:
                raise invalid(
                    "Please ensure that function response turn comes immediately after a "
                    "function call turn."
                )
            if sorted(r.get("name") for r in responses) != sorted(called):
                raise invalid(
                    "Please ensure that the number of function response parts is equal to "
                    "the number of function call parts of the function call turn."
                )
            for response in responses:
                if not isinstance(response.get("response"), dict):
                    raise invalid("functionResponse.response must be an object")
        if calls:
            after_user = previous is not None and previous["role"] == "user"
            if role != "model" or not after_user:
                raise invalid(
                    "Please ensure that function call turn comes immediately after a user "
                    "turn or after a function response turn."
                )
            for c in calls:
                if not isinstance(c.get("args", {}), dict):
                    raise invalid("functionCall.args must be an object")
        previous = content
    system = body.get("systemInstruction")
    if system is not None:
        _known(system, {"parts", "role"}, "system_instruction")
        for part in system.get("parts") or []:
            _known(part, {"text"}, "system_instruction.parts[0]")
    for tool in body.get("tools") or []:
        _known(tool, {"functionDeclarations", "googleSearch", "codeExecution"}, "tools[0]")
        for declaration in tool.get("functionDeclarations") or []:
            _known(
                declaration,
                {"name", "description", "parameters"},
                "tools[0].function_declarations[0]",
            )
            if "parameters" in declaration:
                check_schema(
                    declaration["parameters"], "tools[0].function_declarations[0].parameters"
                )
    if "toolConfig" in body:
        config = _known(body["toolConfig"], {"functionCallingConfig"}, "tool_config")
        calling = _known(
            config.get("functionCallingConfig"),
            {"mode", "allowedFunctionNames"},
            "tool_config.function_calling_config",
        )
        mode = calling.get("mode")
        if mode not in ("AUTO", "ANY", "NONE", "VALIDATED"):
            raise invalid(f"Invalid value at 'tool_config.function_calling_config.mode': {mode}")
    generation = body.get("generationConfig")
    if generation is not None:
        _known(generation, GENERATION_CONFIG, "generation_config")
        if "thinkingConfig" in generation:
            _known(
                generation["thinkingConfig"], THINKING_CONFIG, "generation_config.thinking_config"
            )
        if "responseSchema" in generation:
            check_schema(generation["responseSchema"], "generation_config.response_schema")


def _calls(content: dict[str, Any] | None) -> list[dict[str, Any]]:
    if content is None or content.get("role") != "model":
        return []
    return [p["functionCall"] for p in content["parts"] if "functionCall" in p]
