"""Request transform: an OpenAI chat body becomes a Gemini ``generateContent`` body.

Gemini rejects fields it does not know, so the body is built from the fields mapped
here (the table ``GENERATION_FIELDS`` and the code below for the hard cases); the
rest of the client's body is left behind.
"""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson

from gateway.providers.chat_parts import (
    arguments,
    data_url,
    functions,
    mapped_content,
    split_system,
    text_of,
)
from gateway.providers.gemini.schema import to_gemini_schema
from gateway.providers.reasoning import read_reasoning
from gateway.routing.options import deep_merge

Part = dict[str, Any]
Content = dict[str, Any]

# OpenAI body field → generationConfig field, copied as is when set.
GENERATION_FIELDS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
# reasoning_effort → thinkingConfig.thinkingBudget: Google's documented budgets for
# low/medium/high (its OpenAI endpoint uses the same); minimal is the smallest
# budget every 2.5 model takes.
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
TOOL_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
# Gemini's own fields, for what an OpenAI body cannot say (safety thresholds, a context
# cache): sent as the client or a route's options wrote them. A native
# ``generationConfig`` is merged over the one mapped here (``thinkingLevel``, say).
NATIVE_FIELDS = ("safetySettings", "cachedContent")
# A functionCall's thoughtSignature rides in the OpenAI tool call id after this mark,
# so a client that sends the call back sends the signature Gemini asks for.
SIGNATURE_MARK = "__sig__"


def encode_request(body: dict[str, Any]) -> bytes:
    return orjson.dumps(to_gemini(body))


def to_gemini(body: dict[str, Any]) -> dict[str, Any]:
    system, contents = split_messages(body.get("messages"))
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    declarations = _declarations(body.get("tools"))
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
        config = _tool_config(body.get("tool_choice"))
        if config is not None:
            out["toolConfig"] = config
    generation = generation_config(body)
    native = body.get("generationConfig")
    if isinstance(native, dict):
        generation = deep_merge(generation, native)
    if generation:
        out["generationConfig"] = generation
    for name in NATIVE_FIELDS:
        if body.get(name) is not None:
            out[name] = body[name]
    return out


def generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name, field in GENERATION_FIELDS.items():
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            config[field] = value
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            config["maxOutputTokens"] = value
            break
    stop = body.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = [s for s in stop if isinstance(s, str)]
    _response_format(config, body.get("response_format"))
    reasoning = read_reasoning(body)
    if reasoning is not None:
        thinking: dict[str, Any] = {}
        budget = reasoning.budget_from(THINKING_BUDGETS)
        if budget is not None:
            thinking["thinkingBudget"] = budget
        if reasoning.include_thoughts:
            thinking["includeThoughts"] = True
        if thinking:
            config["thinkingConfig"] = thinking
    return config


def _response_format(config: dict[str, Any], value: Any) -> None:
    if not isinstance(value, dict):
        return
    kind = value.get("type")
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
    elif kind == "json_schema":
        config["responseMimeType"] = "application/json"
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            config["responseSchema"] = to_gemini_schema(schema)


def split_messages(messages: Any) -> tuple[list[str], list[Content]]:
    """System texts, and the turns: roles ``user``/``model`` only, a tool result in a
    ``user`` turn of function responses right after the call's ``model`` turn."""
    system, rest = split_system(messages)
    contents: list[Content] = []
    # Each content's kind: function responses get a user turn of their own.
    turns: list[str] = []
    names: dict[str, str] = {}  # tool call id → function name
    for message in rest:
        role = message.get("role")
        if role == "user":
            turn, parts = "user", _user_parts(message.get("content"))
        elif role == "assistant":
            turn, parts = "model", _model_parts(message, names)
        elif role == "tool":
            turn, parts = "tool", [_function_response(message, names)]
        else:
            continue
        if not parts:
            continue  # Gemini rejects a turn without parts
        if turns and turns[-1] == turn:
            contents[-1]["parts"].extend(parts)
        else:
            turns.append(turn)
            contents.append({"role": "model" if turn == "model" else "user", "parts": parts})
    return system, contents


def _user_parts(content: Any) -> list[Part]:
    return mapped_content(content, lambda text: {"text": text}, _image)


def _image(url: str) -> Part | None:
    inline = data_url(url)
    if inline is not None:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    if url.startswith(("http://", "https://", "gs://")):
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    return None


def _model_parts(message: dict[str, Any], names: dict[str, str]) -> list[Part]:
    text = text_of(message.get("content"))
    parts: list[Part] = [{"text": text}] if text else []
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
            continue
        name = call["function"].get("name")
        if not isinstance(name, str) or not name:
            continue
        call_id = call.get("id")
        part: Part = {
            "functionCall": {"name": name, "args": arguments(call["function"].get("arguments"))}
        }
        if isinstance(call_id, str):
            names[call_id] = name
            _, mark, signature = call_id.partition(SIGNATURE_MARK)
            if mark and signature:
                part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_response(message: dict[str, Any], names: dict[str, str]) -> Part:
    call_id = message.get("tool_call_id")
    name = names.get(call_id, "") if isinstance(call_id, str) else ""
    name = name or str(message.get("name") or "")
    text = text_of(message.get("content"))
    try:
        value = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        value = text
    # `response` must be an object: a JSON object result is one, anything else is wrapped.
    response = value if isinstance(value, dict) else {"result": value}
    return {"functionResponse": {"name": name, "response": response}}


def _declarations(tools: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry, schema in functions(tools):
        parameters = to_gemini_schema(schema)
        # Gemini refuses an OBJECT without properties: a tool without arguments omits it.
        if parameters.get("properties"):
            entry["parameters"] = parameters
        out.append(entry)
    return out


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, str) and choice in TOOL_MODES:
        return {"functionCallingConfig": {"mode": TOOL_MODES[choice]}}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        if isinstance(name, str) and name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return None
