// The official Microsoft Graph JavaScript client (3.x) with @azure/identity's
// ClientSecretCredential against `mockgraph serve --tls` (tests/clients/test_node.py).
// Unmodified client code but for the base URL, customHosts and the authority; the CA is trusted
// through NODE_EXTRA_CA_CERTS.
//
//   MOCKGRAPH_ROOT=https://127.0.0.1:PORT CLIENT_ID=... CLIENT_SECRET=... \
//   NODE_EXTRA_CA_CERTS=$(mockgraph ca | tail -1) node keysets.mjs SCENARIO
//
// Prints one JSON line: what the scenario saw, for the test to check.
import { ClientSecretCredential } from "@azure/identity";
import { Client, GraphError, PageIterator } from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";

const root = process.env.MOCKGRAPH_ROOT;
const tenant = "00000000-0000-0000-0000-00000000b2c0";
const scopes = ["https://graph.microsoft.com/.default"];

function credential(clientId = process.env.CLIENT_ID, secret = process.env.CLIENT_SECRET) {
  return new ClientSecretCredential(tenant, clientId, secret, {
    authorityHost: root,
    disableInstanceDiscovery: true,
  });
}

function graphClient(tokenCredential = credential()) {
  return Client.initWithMiddleware({
    baseUrl: root,
    defaultVersion: "beta",
    // A bare host name: the client sends the token only to Graph's hosts and these.
    customHosts: new Set([new URL(root).hostname]),
    authProvider: new TokenCredentialAuthenticationProvider(tokenCredential, { scopes }),
  });
}

// What a caller can read of a failure.
function failure(error) {
  return {
    type: error.constructor.name,
    name: error.name,
    isGraphError: error instanceof GraphError,
    statusCode: error.statusCode,
    code: error.code,
    message: String(error.message),
    requestId: error.requestId ?? null,
  };
}

async function refused(call) {
  try {
    await call();
  } catch (error) {
    return failure(error);
  }
  return { refused: false };
}

const withoutContext = ({ "@odata.context": _, ...rest }) => rest;

const scenarios = {
  // create, get, generateKey, uploadSecret, getActiveKey, PATCH, delete, then the 404.
  async lifecycle() {
    const client = graphClient();
    const created = await client.api("/trustFramework/keySets").post({ id: "NodeLifecycle" });
    const item = `/trustFramework/keySets/${created.id}`;
    const fetched = await client.api(item).get();
    const generated = await client.api(`${item}/generateKey`).post({ use: "sig", kty: "RSA" });
    const uploaded = await client.api(`${item}/uploadSecret`).post({ use: "enc", k: "bm9kZS1zZWNyZXQ" });
    const active = await client.api(`${item}/getActiveKey`).get();
    const patched = await client.api(item).patch({
      id: created.id,
      keys: [{ kid: "patched", kty: "oct", use: "sig", k: "c2VjcmV0" }],
    });
    const deleted = await client.api(item).delete();
    const gone = await refused(() => client.api(item).get());
    return {
      created: withoutContext(created),
      fetched: withoutContext(fetched),
      generated: withoutContext(generated),
      uploaded: withoutContext(uploaded),
      active: withoutContext(active),
      patched: withoutContext(patched),
      deleted: deleted ?? null,
      gone,
    };
  },

  // The PageIterator follows @odata.nextLink over every page of the key sets the test seeded.
  async pages() {
    const client = graphClient();
    const first = await client.api("/trustFramework/keySets").get();
    const ids = [];
    const iterator = new PageIterator(client, first, (keySet) => {
      ids.push(keySet.id);
      return true;
    });
    await iterator.iterate();
    return { firstPage: first.value.length, nextLink: first["@odata.nextLink"] ?? null, ids };
  },

  // A body Graph refuses: the client throws a GraphError with Graph's status and code.
  async badBody() {
    return refused(() => graphClient().api("/trustFramework/keySets").post({ id: 42 }));
  },

  // The sign-in refused: by @azure/identity itself, and through the Graph client.
  async signInRefused() {
    return {
      getToken: await refused(() => credential().getToken(scopes)),
      graph: await refused(() => graphClient().api("/trustFramework/keySets").get()),
    };
  },
};

const name = process.argv[2];
if (!(name in scenarios)) {
  console.error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
console.log(JSON.stringify(await scenarios[name]()));
