// GraphiQL 5 app entry, bundled by build.mjs. Everything is same-origin: no CDN, fonts are inlined in graphiql/style.css.
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/style.css';

// Monaco web workers are emitted by build.mjs as separate files next to this bundle;
// resolve them relative to this module's URL so the bundle works under any base path.
const workerUrl = (name) => new URL(`./${name}.worker.js`, import.meta.url);
globalThis.MonacoEnvironment = {
  getWorker(_id, label) {
    return new Worker(workerUrl(label === 'json' || label === 'graphql' ? label : 'editor'));
  },
};

const root = document.getElementById('graphiql');
const endpoint = root.dataset.endpoint || '/graphql';
const wsProtocol = location.protocol === 'https:' ? 'wss:' : 'ws:';

// HTTP: headers typed in the "Headers" editor are sent with every request.
// WebSocket (graphql-ws, graphql-transport-ws protocol): @graphiql/toolkit opens a new lazy
// graphql-ws client per subscription with connectionParams = { ...wsConnectionParams, ...headers },
// so {"Authorization":"Bearer ..."} from the Headers editor arrives as connectionParams.Authorization.
const fetcher = createGraphiQLFetcher({
  url: `${location.origin}${endpoint}`,
  subscriptionUrl: `${wsProtocol}//${location.host}${endpoint}`,
});

// Optional ?query=... deep link (also used by the browser test).
const initialQuery = new URLSearchParams(location.search).get('query') ?? undefined;

createRoot(root).render(
  <GraphiQL
    fetcher={fetcher}
    initialQuery={initialQuery}
    isHeadersEditorEnabled
    defaultEditorToolsVisibility="headers"
    shouldPersistHeaders={false}
  />,
);
