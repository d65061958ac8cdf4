"""Hypothesis strategies for fuzzing the bundled server, generated from its own request
schemas (the pydantic models' JSON schemas) and entry field tables, with hostile values
mixed in at every level: wrong types, extreme numbers, odd Unicode, deep nesting."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Values that broke servers before, offered wherever a value of any kind may go.
HOSTILE: list[Any] = [
    None, True, 0, -1, 2**63, 10**400, 1e15, -1e308, 1e-300, float("nan"), float("inf"),
    "", "\ud800", "a\udfff", "\U0001F600", "\x00", "..", "../..", "%2e%2e", "a/b?c#d",
    "<|im_end|>", "x" * 3000, [], {}, [1, 2], {"a": [{"b": None}]}, 5,
    {"type": "function", "function": "f"}, [{"function": "f"}],
]
# Free-form objects (tool_choice, tool calls, content parts, tool parameters) in shapes
# that are almost right: where code that trusts the documented shape breaks.
HOSTILE_OBJECTS: list[dict[str, Any]] = [
    {"type": "function", "function": "f"}, {"type": "function", "function": 7},
    {"type": "function"}, {"function": "f"}, {"function": {"name": 5, "arguments": "[["}},
    {"type": "tool", "name": ["x"]}, {"type": "text", "text": 3}, {"type": "text"},
    {"type": "tool_result", "tool_use_id": "t", "content": 5},
    {"type": "tool_result", "tool_use_id": "t", "content": [1, 2]},
    {"type": "tool_use", "id": "t", "name": "f", "input": "not an object"},
    {"type": "image", "source": {}}, {"name": "\ud800"}, {"": None},
]
HOSTILE_STRINGS = ["\ud800", "a\udfff", "", "\x00", "<|im_start|>", "{{ 7*7 }}", "{% raw %}",
                   "\U0001F600" * 20, ".."]
_ANY_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                      st.text(max_size=20), st.sampled_from(HOSTILE))
ANY_JSON = st.recursive(_ANY_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def from_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None,
                hostile: float = 0.15) -> st.SearchStrategy[Any]:
    """Values that mostly follow `schema` (so they get past the first check and reach the
    code behind it), sometimes anything at all."""
    defs = defs if defs is not None else schema.get("$defs", {})
    valid = _follow(schema, defs, hostile)
    if hostile <= 0:
        return valid
    return st.one_of(valid, valid, valid, valid, ANY_JSON) if hostile < 0.3 else \
        st.one_of(valid, ANY_JSON)


def _follow(schema: dict[str, Any], defs: dict[str, Any], hostile: float
            ) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return st.deferred(lambda: from_schema(defs[schema["$ref"].split("/")[-1]], defs,
                                               hostile))
    if "anyOf" in schema:
        return st.one_of([from_schema(s, defs, hostile) for s in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields = {name: from_schema(sub, defs, hostile) for name, sub in props.items()}
        if not fields:
            return st.one_of(st.dictionaries(st.text(max_size=8), ANY_JSON, max_size=3),
                             st.sampled_from(HOSTILE_OBJECTS))
        return st.fixed_dictionaries(
            {k: v for k, v in fields.items() if k in required},
            optional={k: v for k, v in fields.items() if k not in required})
    if kind == "array":
        items = schema.get("items", {})
        inner = from_schema(items, defs, hostile) if items else ANY_JSON
        return st.lists(inner, min_size=schema.get("minItems", 0), max_size=3)
    if kind == "string":
        return st.one_of(st.text(min_size=schema.get("minLength", 0), max_size=40),
                         st.sampled_from(["Hello", "Is the trend up?", "\n", "a" * 120]),
                         st.sampled_from(HOSTILE_STRINGS))
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", -(2**40)))
        return st.one_of(st.integers(min_value=low, max_value=max(low, 2**40)),
                         st.sampled_from([10**400, -(10**30), 2**63]))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return ANY_JSON


def entries(required: dict[str, str], optional: dict[str, str]) -> st.SearchStrategy[Any]:
    """Stream entries built from the server's own field tables (name -> kind)."""
    by_kind = {
        "num": st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False),
                         st.sampled_from([1e15, -1e15, 1e16, 10**400, 1e-300, 0.1])),
        "int": st.one_of(st.integers(-10, 10), st.sampled_from([2**53, 2**60, 3.0, 2.5])),
        "str": st.one_of(st.text(max_size=12), st.sampled_from(["\ud800", "s" * 300, ""])),
    }
    fields = {name: st.one_of(by_kind[kind], st.sampled_from(HOSTILE))
              if kind != "num" else by_kind[kind] for name, kind in required.items()}
    extra = {name: by_kind[kind] for name, kind in optional.items()}
    extra["timestamp"] = st.one_of(st.integers(1_600_000_000, 1_800_000_000),
                                   st.sampled_from([1e15, -1e13, 1_733_000_000_000, 0.5]))
    entry = st.fixed_dictionaries(fields, optional=extra)
    return st.lists(st.one_of(entry, entry, entry, ANY_JSON), max_size=4)
