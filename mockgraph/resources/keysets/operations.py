"""The key sets resource's operations table: every operation of ``/trustFramework/keySets``,
declared once (its id is its contract's name in ``schemas/``)."""

from __future__ import annotations

from mockgraph.http import odata
from mockgraph.http.routing import Operation
from mockgraph.resources.keysets import examples as e
from mockgraph.resources.keysets import schemas as s
from mockgraph.resources.keysets import views as v

KEYSETS = v.COLLECTION
ITEM = KEYSETS + "/{id}"
KEY = ITEM + "/keys_v2/{kid}"
#: What ``$select`` may name: trustFrameworkKeySet's properties.
SELECT = ("id", "keys")
GET, POST = ("GET",), ("POST",)

OPERATIONS: tuple[Operation, ...] = (
    Operation("createKeySet", POST, KEYSETS, v.create_keyset, s.CreateKeySetSchema()),
    Operation(
        "listKeySets",
        GET,
        KEYSETS,
        v.list_keysets,
        query=odata.PAGING,
        select=SELECT,
        example_state=e.listed,
    ),
    Operation("countKeySets", GET, KEYSETS + "/$count", v.count_keysets, contract=False),
    Operation(
        "getKeySet",
        GET,
        ITEM,
        v.get_keyset,
        query=frozenset({"select"}),
        select=SELECT,
        example_state=e.one,
    ),
    # PUT as the update page documents it, PATCH as the official OpenAPI and SDK send it.
    Operation("updateKeySet", ("PUT", "PATCH"), ITEM, v.update_keyset, s.UpdateKeySetSchema()),
    Operation("deleteKeySet", ("DELETE",), ITEM, v.delete_keyset),
    Operation(
        "generateKey",
        POST,
        ITEM + "/generateKey",
        v.generate_key,
        s.GenerateKeySchema(),
        kind="action",
        blocking=True,  # RSA key generation
    ),
    Operation(
        "uploadSecret",
        POST,
        ITEM + "/uploadSecret",
        v.upload_secret,
        s.UploadSecretSchema(),
        kind="action",
        secrets=frozenset({"k"}),  # "similar to" the key's k, which cannot be read back
    ),
    Operation(
        "uploadCertificate",
        POST,
        ITEM + "/uploadCertificate",
        v.upload_certificate,
        s.UploadCertificateSchema(),
        kind="action",
        blocking=True,
        example_body=e.certificate_body,
    ),
    Operation(
        "uploadPkcs12",
        POST,
        ITEM + "/uploadPkcs12",
        v.upload_pkcs12,
        s.UploadPkcs12Schema(),
        kind="action",
        blocking=True,  # the password's key derivation
        secrets=frozenset({"key", "password"}),  # a private key, and what unlocks it
        example_body=e.pkcs12_body,
    ),
    Operation(
        "getActiveKey",
        GET,
        ITEM + "/getActiveKey",
        v.get_active_key,
        kind="function",
        example_state=e.active_key,
    ),
    Operation(
        "listKeysV2",
        GET,
        ITEM + "/keys_v2",
        v.list_keys_v2,
        query=frozenset({"top", "skip"}),
        contract=False,
    ),
    Operation("getKeyV2", GET, KEY, v.get_key_v2, contract=False),
    Operation("updateKeyV2", ("PATCH",), KEY, v.update_key_v2, s.UpdateKeyV2Schema()),
)
