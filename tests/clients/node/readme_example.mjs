// The README's Node snippet (its twin runs in tests/clients/test_node.py):
//   mockgraph serve --tls --port 8443
//   NODE_EXTRA_CA_CERTS=$(mockgraph ca | tail -1) node readme_example.mjs
import { ClientSecretCredential } from "@azure/identity";
import { Client } from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";

const mock = process.env.MOCKGRAPH_ROOT ?? "https://127.0.0.1:8443";

// Sign in at the mock instead of login.microsoftonline.com: any tenant, app id and secret
// (or those given with `mockgraph serve --app CLIENT_ID:SECRET=ROLE`).
const credential = new ClientSecretCredential("my-tenant", "my-app-id", "my-secret", {
  authorityHost: mock,
  disableInstanceDiscovery: true,
});
const client = Client.initWithMiddleware({
  baseUrl: mock,
  defaultVersion: "beta",
  customHosts: new Set([new URL(mock).hostname]), // a host name, no port: the token goes there
  authProvider: new TokenCredentialAuthenticationProvider(credential, {
    scopes: ["https://graph.microsoft.com/.default"],
  }),
});

const keySet = await client.api("/trustFramework/keySets").post({ id: "TokenSigningKeyContainer" });
const key = await client
  .api(`/trustFramework/keySets/${keySet.id}/generateKey`)
  .post({ use: "sig", kty: "RSA" });
console.log(keySet.id, key.kty, key.use); // B2C_1A_TokenSigningKeyContainer RSA sig
