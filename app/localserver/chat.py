"""Chat rendering with the model's own Jinja template, and tool calls in and out.

The template comes from the GGUF metadata (tokenizer.chat_template). Templates that do
not know about tools (SmolLM2's ChatML template does not) get the tool list as a system
instruction asking for `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`; the
same tags are parsed back into OpenAI-shaped tool calls.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import APIError

FALLBACK_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TOOL_CALL_RE = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def _raise_exception(message: str) -> None:
    raise APIError(400, f"chat template: {message}", code="template_error")


class ChatTemplate:
    def __init__(self, source: str | None, bos_token: str, eos_token: str) -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise_exception
        env.filters["tojson"] = lambda v, indent=None: json.dumps(v, indent=indent,
                                                                  ensure_ascii=False)
        self.source = source or FALLBACK_TEMPLATE
        self._template = env.from_string(self.source)
        self.knows_tools = "tools" in self.source
        self.bos_token = bos_token
        self.eos_token = eos_token

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
               add_generation_prompt: bool = True) -> str:
        if tools and not self.knows_tools:
            messages = _with_tool_instruction(messages, tools)
        try:
            return self._template.render(
                messages=messages,
                tools=tools if self.knows_tools else None,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except APIError:
            raise
        except Exception as exc:  # a model's template may trip over unusual input
            raise APIError(400, f"the chat template could not render these messages: "
                           f"{type(exc).__name__}", code="template_error") from None


def content_text(content: Any) -> str:
    """OpenAI/Anthropic content: a string or a list of parts; keep the text parts.
    Anything else a client sends (a number, a list of numbers as tool_result content) is
    rendered as JSON rather than refused: it is what the model is meant to read."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return _as_text(content)
    out: list[str] = []
    for part in content:
        if isinstance(part, dict):
            if part.get("type") in {"text", "input_text", None}:
                out.append(_as_text(part.get("text", "")))
        else:
            out.append(_as_text(part))
    return "".join(out)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _tool_call_text(call: Any) -> str:
    fn = call.get("function") if isinstance(call, dict) else None
    if isinstance(fn, str):  # {"function": "name"}: a name without arguments
        fn = {"name": fn}
    if not isinstance(fn, dict):
        fn = {}
    args = fn.get("arguments", "{}")
    name = fn.get("name", "")
    name = name if isinstance(name, str) else _as_text(name)
    try:
        parsed = json.loads(args) if isinstance(args, str) else args
        body = json.dumps({"name": name, "arguments": parsed}, ensure_ascii=False)
    except (ValueError, RecursionError):  # arguments that are not JSON stay a string
        body = json.dumps({"name": name, "arguments": _as_text(args)}, ensure_ascii=False)
    return f"<tool_call>{body}</tool_call>"


def normalize_messages(messages: list[Any]) -> list[dict[str, Any]]:
    """Pydantic chat messages -> plain dicts with string content, as templates expect."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = "system" if m.role == "developer" else m.role
        text = content_text(m.content)
        if m.tool_calls:
            text = (text + "\n" if text else "") + "\n".join(
                _tool_call_text(c) for c in m.tool_calls)
        out.append({"role": role, "content": text})
    return out


def _with_tool_instruction(messages: list[dict[str, Any]], tools: list[dict[str, Any]]
                           ) -> list[dict[str, Any]]:
    listing = "\n".join(json.dumps(t.get("function", t), ensure_ascii=False) for t in tools)
    instruction = (
        "You can call these tools:\n" + listing + "\nTo call one, answer only with "
        '<tool_call>{"name": <tool name>, "arguments": <arguments object>}</tool_call>'
    )
    if messages and messages[0]["role"] == "system":
        first = dict(messages[0])
        first["content"] = f"{first['content']}\n\n{instruction}"
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def forced_tool(tool_choice: Any, tools: list[dict[str, Any]] | None) -> str | None:
    """Name of the tool the caller insists on (OpenAI or Anthropic tool_choice), if any.
    Shapes other than the documented ones ({"function": "f"}, a non-string name) are read
    as far as they make sense and otherwise ignored."""
    if not tools or tool_choice is None:
        return None
    if isinstance(tool_choice, str):
        if tool_choice in {"required", "any"}:
            return str(tools[0]["function"]["name"]) if len(tools) == 1 else ""
        return None
    if not isinstance(tool_choice, dict):
        return None
    kind = tool_choice.get("type")
    if kind == "function":
        fn = tool_choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else fn
        return name if isinstance(name, str) and name else None
    if kind == "tool":
        name = tool_choice.get("name")
        return name if isinstance(name, str) and name else None
    if kind == "any":
        return str(tools[0]["function"]["name"]) if len(tools) == 1 else ""
    return None


def tool_prefill(name: str) -> str:
    """Assistant text decoded before generation when a tool call is forced."""
    if name:
        # The opening brace keeps a small model from answering with a bare scalar.
        return '<tool_call>{"name": ' + json.dumps(name) + ', "arguments": {'
    return '<tool_call>{"name": "'


@dataclass
class ParsedOutput:
    content: str
    tool_calls: list[dict[str, Any]]


def _close_json(text: str) -> str:
    """Balance a truncated JSON object (small models stop early or run out of tokens)."""
    stack: list[str] = []
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    out = text + ('"' if in_str else "")
    out = out.rstrip().rstrip(",").rstrip()
    if out.endswith(":"):
        out += " null"
    return out + "".join(reversed(stack))


def parse_tool_calls(text: str, tool_names: set[str], forced: str | None = None
                     ) -> ParsedOutput:
    """Tool calls in the output, OpenAI-shaped. With a forced tool (tool_choice), a call is
    always returned; arguments the model left unparseable become "{}"."""
    calls: list[dict[str, Any]] = []
    for match in TOOL_CALL_RE.finditer(text):
        body = match.group(1).strip()
        obj: Any = None
        for candidate in (body, _close_json(body)):
            try:
                obj = json.loads(candidate)
                break
            except json.JSONDecodeError:
                continue
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            continue
        if tool_names and obj["name"] not in tool_names:
            continue
        args = obj.get("arguments", obj.get("parameters", {}))
        calls.append({
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {
                "name": obj["name"],
                "arguments": args if isinstance(args, str) else json.dumps(args),
            },
        })
    if forced and not calls:
        calls.append({"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                      "function": {"name": forced, "arguments": "{}"}})
    content = TOOL_CALL_RE.sub("", text).strip() if calls else text
    return ParsedOutput(content, calls)


def anthropic_to_openai(system: str | list[dict[str, Any]] | None, messages: list[Any]
                        ) -> list[dict[str, Any]]:
    """Anthropic messages (text / tool_use / tool_result blocks) -> chat template dicts."""
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": content_text(system)})
    for m in messages:
        if isinstance(m.content, str):
            out.append({"role": m.role, "content": m.content})
            continue
        texts: list[str] = []
        for block in m.content:
            kind = block.get("type")
            if kind == "text":
                texts.append(_as_text(block.get("text", "")))
            elif kind == "tool_use":
                texts.append(_tool_call_text({"function": {
                    "name": block.get("name", ""), "arguments": block.get("input", {})}}))
            elif kind == "tool_result":
                if texts:
                    out.append({"role": m.role, "content": "\n".join(texts)})
                    texts = []
                out.append({"role": "tool", "content": content_text(block.get("content", ""))})
        if texts:
            out.append({"role": m.role, "content": "\n".join(texts)})
    return out


def anthropic_tools(tools: list[Any] | None) -> list[dict[str, Any]] | None:
    if not tools:
        return None
    return [{"type": "function", "function": {
        "name": t.name, "description": t.description or "",
        "parameters": t.input_schema or {"type": "object", "properties": {}}}} for t in tools]
