// The same clients loaded with require() (CommonJS), as older Node projects do: sign in at the
// mock, create a key set and list them (tests/clients/test_node.py). Prints one JSON line.
const { ClientSecretCredential } = require("@azure/identity");
const { Client } = require("@microsoft/microsoft-graph-client");
const {
  TokenCredentialAuthenticationProvider,
} = require("@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials");

async function main() {
  const root = process.env.MOCKGRAPH_ROOT;
  const credential = new ClientSecretCredential(
    "00000000-0000-0000-0000-00000000b2c0",
    process.env.CLIENT_ID,
    process.env.CLIENT_SECRET,
    { authorityHost: root, disableInstanceDiscovery: true },
  );
  const client = Client.initWithMiddleware({
    baseUrl: root,
    defaultVersion: "beta",
    customHosts: new Set([new URL(root).hostname]),
    authProvider: new TokenCredentialAuthenticationProvider(credential, {
      scopes: ["https://graph.microsoft.com/.default"],
    }),
  });
  const created = await client.api("/trustFramework/keySets").post({ id: "NodeCommonJs" });
  const listed = await client.api("/trustFramework/keySets").get();
  return { created: created.id, listed: listed.value.map((keySet) => keySet.id) };
}

main().then(
  (result) => console.log(JSON.stringify(result)),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
