from __future__ import annotations

import pytest

from mockgraph.resources.examples import is_placeholder


@pytest.mark.parametrize(
    "value",
    [
        "use-value",
        "x5c-value",
        "Base64-encoded-pfx-content",
        "application-secret-to-be-uploaded",
    ],
)
def test_every_placeholder_form_of_the_doc_pages_is_recognised(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["B2C_1A_TestKeyset", "kid", "value", "MIIB-content-x", 5, None])
def test_real_values_are_not_placeholders(value: object) -> None:
    assert not is_placeholder(value)
