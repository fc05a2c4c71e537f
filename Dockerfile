# syntax=docker/dockerfile:1
# One image for both processes: the API (`node dist/server.js`, the default command) and the worker
# (`node dist/worker.js`). docker-compose.yml builds it; alone: `docker build -t loan-reminders .`
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# Every dependency, dev ones included. better-sqlite3 compiles from source where no prebuilt binary
# fits, hence Python, make and a C++ compiler.
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# No install-time analytics from dependencies that send them.
ENV SCARF_ANALYTICS=false
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund

# TypeScript to dist/ (tsconfig.build.json: src only, CommonJS), with the dashboard's and the
# operations page's files and the failure converter beside it (scripts/build-assets.mjs), and the
# workflow code bundled once into dist/workflow-bundle.js, which the worker loads rather than
# bundle at start (scripts/build-workflow-bundle.ts).
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-assets.mjs scripts/build-workflow-bundle.ts ./scripts/
COPY src ./src
RUN npm run build

# Production dependencies only, native modules as compiled above; without the Temporal core's
# binaries for other platforms and better-sqlite3's compiler leftovers (about 140 MB).
FROM deps AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund \
  && cd node_modules/@temporalio/core-bridge \
  && keep="$(node -p "require('./common').getPrebuiltTargetName()")" \
  && find releases -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} + \
  && cd ../../better-sqlite3 \
  && rm -rf deps build/Release/obj build/Release/obj.target build/Release/.deps build/Release/sqlite3.a

FROM ${NODE_IMAGE} AS runtime
# Stack traces point at src/*.ts through dist's source maps.
ENV NODE_ENV=production NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
COPY policies ./policies
COPY deploy/worker-healthcheck.mjs ./deploy/
# Everything above belongs to root and is read-only to the app; only data/ (a volume) is writable.
RUN mkdir data && chown node:node data
USER node
EXPOSE 3000
CMD ["node", "dist/server.js"]
