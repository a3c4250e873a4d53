"""``GET /beta/$metadata``: the CSDL document every ``@odata.context`` points at."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient

EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def test_metadata_is_csdl_xml_served_without_a_token(app: Flask) -> None:
    answer = app.test_client().get("/beta/$metadata")
    assert answer.status_code == 200
    assert answer.mimetype == "application/xml"
    root = ElementTree.fromstring(answer.data)
    assert root.tag == EDMX + "Edmx" and root.get("Version") == "4.0"
    schema = root.find(f"{EDMX}DataServices/{EDM}Schema")
    assert schema is not None and schema.get("Namespace") == "microsoft.graph"
    entities = {e.get("Name") for e in schema.iter(EDM + "EntityType")}
    assert "trustFrameworkKeySet" in entities
    assert answer.headers["request-id"]


def test_the_context_of_an_answer_leads_to_the_metadata(client: FlaskClient) -> None:
    created = client.post("/beta/trustFramework/keySets", json={"id": "a"}).get_json()
    context = urlsplit(created["@odata.context"])
    assert context.path == "/beta/$metadata"
    assert context.fragment == "trustFramework/keySets/$entity"
    assert client.get(context.path).mimetype == "application/xml"


def test_metadata_answers_only_get(client: FlaskClient) -> None:
    answer = client.post("/beta/$metadata")
    assert answer.status_code == 405
    assert answer.get_json()["error"]["code"] == "notAllowed"
