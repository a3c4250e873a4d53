"""How the key sets' documented examples are prepared for replay: what an answer shows is
stored, a redacted upload key is replaced by real material that the upload then accepts."""

from __future__ import annotations

from mockgraph.features.redact import REDACTED
from mockgraph.resources.keysets import examples
from mockgraph.resources.keysets.keys import certificate_key, pkcs12_key

WINDOW = {"nbf": 1_700_000_000, "exp": 1_800_000_000}


def test_a_redacted_pkcs12_key_becomes_a_pfx_the_upload_opens_with_the_bodys_password() -> None:
    body = examples.pkcs12_body({"key": REDACTED, "password": "s3cret"}, WINDOW, False)
    key = pkcs12_key(body["key"], "s3cret")
    assert (key.nbf, key.exp) == (WINDOW["nbf"], WINDOW["exp"])
    assert body["password"] == "s3cret"


def test_a_documented_placeholder_certificate_becomes_one_valid_over_the_answers_window() -> None:
    body = examples.certificate_body({"key": "key-value"}, WINDOW, True)
    key = certificate_key(body["key"])
    assert (key.nbf, key.exp) == (WINDOW["nbf"], WINDOW["exp"])


def test_a_recorded_key_is_sent_as_recorded_and_a_placeholder_only_in_documented_ones() -> None:
    recorded = {"key": "MIIC-real-base64"}
    assert examples.certificate_body(recorded, WINDOW, False) == recorded
    assert examples.pkcs12_body({"key": "key-value"}, WINDOW, False) == {"key": "key-value"}


def test_a_listed_answer_is_stored_with_its_own_ids_and_placeholders_replaced() -> None:
    answer = {"value": [{"id": "B2C_1A_Real", "keys": [{"kid": "a"}]}, {"id": "id-value"}]}
    stored, clock = examples.listed(answer, "B2C_1A_example")
    assert [(s.id, [k.kid for k in s.keys]) for s in stored] == [
        ("B2C_1A_Real", ["a"]),
        ("B2C_1A_example1", []),
    ]
    assert clock is None


def test_the_active_keys_example_sets_the_clock_inside_the_keys_window() -> None:
    stored, clock = examples.active_key({"kid": "k", "kty": "RSA", **WINDOW}, "B2C_1A_example")
    assert [k.kid for k in stored[0].keys] == ["k"]
    assert clock is not None and WINDOW["nbf"] <= clock < WINDOW["exp"]


def test_a_path_below_keys_v2_stores_the_key_it_names() -> None:
    path = "/trustFramework/keySets/B2C_1A_example/keys_v2/kid1"
    (stored,) = examples.addressed(path, "B2C_1A_example")
    assert stored.id == "B2C_1A_example" and [k.kid for k in stored.keys] == ["kid1"]
