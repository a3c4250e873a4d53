"""The shape every refusal of the in-process app has: Graph's error body, its code and a part of
its message, and the ids of the answer's headers in its innerError."""

from __future__ import annotations

from werkzeug.test import TestResponse


def assert_graph_error(response: TestResponse, status: int, code: str, part: str = "") -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert part in error["message"]
    inner = error["innerError"]
    assert set(inner) == {"date", "request-id", "client-request-id"}
    assert inner["request-id"] == response.headers["request-id"]
    assert inner["client-request-id"] == response.headers["client-request-id"]
    assert len(inner["date"]) == 19
