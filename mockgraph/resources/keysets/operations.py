"""The key sets resource's operations table: every operation of ``/trustFramework/keySets``,
declared once (its id is its contract's name in ``schemas/``)."""

from __future__ import annotations

from mockgraph.http import odata
from mockgraph.http.routing import Operation
from mockgraph.resources.keysets import schemas
from mockgraph.resources.keysets import views as v

COLLECTION = v.COLLECTION
ITEM = COLLECTION + "/{id}"
#: What ``$select`` may name: trustFrameworkKeySet's properties.
SELECT = ("id", "keys")

OPERATIONS: tuple[Operation, ...] = (
    Operation("createKeySet", ("POST",), COLLECTION, v.create_keyset, schemas.CreateKeySetSchema()),
    Operation(
        "listKeySets", ("GET",), COLLECTION, v.list_keysets, query=odata.PAGING, select=SELECT
    ),
    Operation("countKeySets", ("GET",), COLLECTION + "/$count", v.count_keysets, contract=False),
    Operation(
        "getKeySet", ("GET",), ITEM, v.get_keyset, query=frozenset({"select"}), select=SELECT
    ),
    # PUT as the update page documents it, PATCH as the official OpenAPI and SDK send it.
    Operation(
        "updateKeySet", ("PUT", "PATCH"), ITEM, v.update_keyset, schemas.UpdateKeySetSchema()
    ),
    Operation("deleteKeySet", ("DELETE",), ITEM, v.delete_keyset),
    Operation(
        "generateKey",
        ("POST",),
        ITEM + "/generateKey",
        v.generate_key,
        schemas.GenerateKeySchema(),
        kind="action",
        blocking=True,  # RSA-2048 generation takes ~100 ms
    ),
    Operation(
        "uploadSecret",
        ("POST",),
        ITEM + "/uploadSecret",
        v.upload_secret,
        schemas.UploadSecretSchema(),
        kind="action",
        secrets=frozenset({"k"}),  # "similar to" the key's k, which cannot be read back
    ),
    Operation(
        "uploadCertificate",
        ("POST",),
        ITEM + "/uploadCertificate",
        v.upload_certificate,
        schemas.UploadCertificateSchema(),
        kind="action",
        blocking=True,
    ),
    Operation(
        "uploadPkcs12",
        ("POST",),
        ITEM + "/uploadPkcs12",
        v.upload_pkcs12,
        schemas.UploadPkcs12Schema(),
        kind="action",
        blocking=True,  # the password's key derivation
        # The PFX bundles a private key, and the password unlocks it.
        secrets=frozenset({"key", "password"}),
    ),
    Operation("getActiveKey", ("GET",), ITEM + "/getActiveKey", v.get_active_key, kind="function"),
    Operation(
        "listKeysV2",
        ("GET",),
        ITEM + "/keys_v2",
        v.list_keys_v2,
        query=frozenset({"top", "skip"}),
        contract=False,
    ),
    Operation("getKeyV2", ("GET",), ITEM + "/keys_v2/{kid}", v.get_key_v2, contract=False),
    Operation(
        "updateKeyV2",
        ("PATCH",),
        ITEM + "/keys_v2/{kid}",
        v.update_key_v2,
        schemas.UpdateKeyV2Schema(),
    ),
)
