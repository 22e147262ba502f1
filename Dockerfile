# One image for every service of the platform; docker-compose.yml and deploy/k8s pick the command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY packages packages
COPY subgraphs subgraphs
COPY gateway gateway
COPY tests/package.json tests/package.json
# npm ci's postinstall applies these (patch-package): the postgres.js crash fix.
COPY patches patches
RUN npm ci --include=dev
COPY . .
# The IDE bundle is built here, not on the gateway's first start: the processes run as a user
# that cannot write to /app (Kubernetes runs them with runAsNonRoot).
RUN npx tsx -e "import('./gateway/src/ide.ts').then((ide) => ide.ensureIdeBundle())"
# gateway 4000, subgraphs 4001-4007 (schema/supergraph.yaml).
EXPOSE 4000 4001 4002 4003 4004 4005 4006 4007
# `npm start` alone (embedded PGlite) keeps its data in /app/.data: the one folder it may write.
RUN mkdir -p /app/.data && chown node:node /app/.data
# The image's unprivileged user (uid 1000); deploy/k8s sets runAsUser 1000 to match.
USER node
CMD ["npm", "start"]
