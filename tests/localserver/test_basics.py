"""Server-level routes and the protocol's error shape for malformed requests."""

from __future__ import annotations

import httpx

from tests.localserver.conftest import assert_error


def test_health_reports_ready_with_local_fields(http: httpx.Client) -> None:
    r = http.get("/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["model"].startswith("SmolLM2-135M")
    assert isinstance(body["uptime"], float) and body["uptime"] > 0
    assert isinstance(body["sessions"], int)
    assert body["version"]


def test_models_lists_the_loaded_model(http: httpx.Client) -> None:
    body = http.get("/v1/models").json()
    assert body["object"] == "list"
    (model,) = body["data"]
    assert set(model) == {"id", "object", "created", "owned_by"}
    assert model["object"] == "model" and model["id"].startswith("SmolLM2")


def test_unknown_route_is_404_in_error_shape(http: httpx.Client) -> None:
    err = assert_error(http.get("/v1/nope"), 404)
    assert err["type"] == "not_found_error"


def test_wrong_method_is_405_in_error_shape(http: httpx.Client) -> None:
    assert_error(http.put("/v1/models"), 405)


def test_oversized_body_is_413(http: httpx.Client) -> None:
    big = b'{"text": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    r = http.post("/v1/completions", content=big, headers={"content-type": "application/json"})
    err = assert_error(r, 413)
    assert "exceeds" in err["message"]
    assert http.get("/v1/health").status_code == 200  # still serving


def test_malformed_json_is_400(http: httpx.Client) -> None:
    r = http.post("/v1/sessions/init", content=b"{not json",
                  headers={"content-type": "application/json"})
    assert assert_error(r, 400)["code"] == "invalid_json"


def test_non_object_body_is_400(http: httpx.Client) -> None:
    assert_error(http.post("/v1/sessions/init", json=[1, 2]), 400)


def test_missing_and_mistyped_fields_name_the_field(http: httpx.Client) -> None:
    assert_error(http.post("/v1/sessions/init", json={}), 400, param="type")
    assert_error(http.post("/v1/sessions/init", json={"type": "stocks"}), 422, param="type")
    assert_error(http.post("/v1/sessions/init", json={"type": "ohlcv", "context": "big"}),
                 422, param="context")
    assert_error(http.post("/v1/completions", json={"prompt": 5}), 422, param="prompt")
    assert_error(http.post("/v1/messages", json={"messages": [{"role": "user",
                                                                "content": "hi"}]}),
                 400, param="max_tokens")
    assert_error(http.post("/v1/chat/completions", json={"messages": []}), 422,
                 param="messages")
