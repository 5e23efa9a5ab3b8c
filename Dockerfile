# syntax=docker/dockerfile:1
# One image for every birdfeed process (migrate, scheduler, worker, sandbox, demo): the
# command is the birdfeed command, e.g. `docker run birdfeed worker`. TypeScript runs through
# tsx, as in development (`pnpm birdfeed <command>`): there is no build step to drift from.

ARG NODE_VERSION=20

# --- base: node + the pinned pnpm (corepack cannot verify pnpm's signatures on every host) ---
FROM node:${NODE_VERSION}-slim AS base
ARG PNPM_VERSION=10.34.8
RUN npm install -g "pnpm@${PNPM_VERSION}" && npm cache clean --force
WORKDIR /app
ENV PNPM_HOME=/pnpm CI=true

# --- deps: only the manifests, so source edits do not re-run the install ---------------------
FROM base AS deps
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
# The lockfile's patchedDependencies: the install fails without them.
COPY patches/ patches/
COPY apps/api/package.json apps/api/
COPY apps/sandbox/package.json apps/sandbox/
COPY apps/scheduler/package.json apps/scheduler/
COPY apps/worker/package.json apps/worker/
COPY packages/crawl/package.json packages/crawl/
COPY packages/db/package.json packages/db/
COPY packages/jobs/package.json packages/jobs/
COPY packages/model/package.json packages/model/
COPY packages/providers/package.json packages/providers/
# tsx and typescript are devDependencies and the runtime needs tsx: install everything.
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm config set store-dir /pnpm/store && pnpm install --frozen-lockfile

# --- runtime: the installed tree plus the sources ----------------------------------------------
FROM base AS runtime
ENV NODE_ENV=production
COPY --from=deps /app /app
COPY . .
RUN mkdir -p /app/.birdfeed && chown node:node /app/.birdfeed
USER node
# node itself (not pnpm → sh → tsx → node) is PID 1's child, so SIGTERM from `docker stop`
# reaches the process that finishes its in-flight page and exits (compose adds `init: true`).
ENTRYPOINT ["node", "--import", "tsx", "bin/birdfeed.ts"]
CMD ["--help"]
