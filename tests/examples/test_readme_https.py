"""Twin of the README's "HTTPS and signing in" snippet: the session server over HTTPS with
mockgraph's own CA, an azure-identity credential that signs in at the mock, and a requests
session that trusts the CA."""

import pytest

from mockgraph import Config

pytestmark = pytest.mark.usefixtures("ca_home")  # a CA of the test run's, never the user's


# The README's snippet:
@pytest.fixture
def mockgraph_config():
    return Config(tls=True)  # HTTPS, with mockgraph's own CA (`mockgraph ca` prints its path)


def test_sign_in_and_call_over_https(mockgraph_server, mockgraph_credential, mockgraph_requests):
    token = mockgraph_credential.get_token("https://graph.microsoft.com/.default").token
    url = mockgraph_server.url + "/trustFramework/keySets"  # https://127.0.0.1:PORT/beta/...
    r = mockgraph_requests.post(
        url, json={"id": "signing"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 201
