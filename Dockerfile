# One image for every service of the platform; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY packages packages
COPY subgraphs subgraphs
COPY gateway gateway
COPY tests/package.json tests/package.json
RUN npm ci --include=dev
COPY . .
EXPOSE 4000 4001 4002 4003 4004 4005 4006
CMD ["npm", "start"]
