# One image for every service of the platform; docker-compose.yml and deploy/k8s pick the command.
# Two stages: `build` installs everything (dev dependencies included), generates the typed service
# documents and builds the IDE bundle, then prunes the dev dependencies; `runtime` copies the result
# and nothing else. Node 24 (engines: >=22.19); `--build-arg NODE_IMAGE=node:22-trixie-slim` for 22.
ARG NODE_IMAGE=node:24-trixie-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
COPY packages packages
COPY subgraphs subgraphs
COPY gateway gateway
COPY tests/package.json tests/package.json
# npm ci's postinstall applies these (patch-package, a dev dependency): the postgres.js fix and
# pool statistics, Apollo's createhash.
# package.json's allowScripts says which dependencies' install scripts run (argon2 only).
COPY patches patches
RUN npm ci
COPY . .
# The typed documents services call each other with (src/generated, codegen from the SDL: the
# payments and wallet services import them at run time; .dockerignore keeps local copies out).
RUN npm run codegen
# The IDE bundle is built here, not on the gateway's first start: the processes run as a user
# that cannot write to /app (Kubernetes runs them with runAsNonRoot).
RUN npx tsx -e "import('./gateway/src/ide.ts').then((ide) => ide.ensureIdeBundle())"
# Production dependencies only from here on. prune removes packages and runs no install script,
# so the patched packages stay patched (`npm ci --omit=dev` would not install patch-package,
# a dev dependency, for its postinstall). tsx stays: the services run their TypeScript through it.
RUN npm prune --omit=dev \
  && grep -q 'paygraph patch' node_modules/postgres/cjs/src/connection.js \
  && grep -q 'paygraph patch' node_modules/postgres/src/connection.js

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false
# Containers start `npm start [-w <workspace>]`, and stop with SIGTERM to it: npm forwards the
# signal to its script's shell. dash (/bin/sh) dies without passing it on, leaving the service to be
# killed mid-request; bash runs the one-command script in its own place (exec), so the signal
# reaches tsx, which hands it to the service: it drains and stops cleanly ("stopped cleanly").
ENV NPM_CONFIG_SCRIPT_SHELL=/bin/bash
# What the services read at run time, owned by root: the `node` user can read it, not change it.
COPY --from=build /app/package.json /app/package-lock.json /app/tsconfig.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/packages packages
COPY --from=build /app/subgraphs subgraphs
COPY --from=build /app/gateway gateway
COPY --from=build /app/scripts scripts
COPY --from=build /app/schema schema
# The tests workspace's manifest only: npm resolves the workspaces listed in package.json.
COPY --from=build /app/tests/package.json tests/package.json
# gateway 4000, subgraphs 4001-4007 (schema/supergraph.yaml).
EXPOSE 4000 4001 4002 4003 4004 4005 4006 4007
# `npm start` alone (embedded PGlite) keeps its data in /app/.data: the one folder it may write.
RUN mkdir -p /app/.data && chown node:node /app/.data
# The image's unprivileged user (uid 1000); deploy/k8s sets runAsUser 1000 to match.
USER node
CMD ["npm", "start"]
