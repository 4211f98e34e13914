# Multi-stage: compile TypeScript with dev dependencies, run with production ones only.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
# The spill directories' volume takes this owner when docker creates it. It is also the default data
# directory: the image's ./data would be /app/data, which the node user cannot create (a plain
# `docker run` on the embedded database stopped at EACCES).
RUN mkdir -p /var/lib/tracklane && chown node:node /var/lib/tracklane
ENV TRACKLANE_DATA_DIR=/var/lib/tracklane
USER node
EXPOSE 8080
# Liveness, not readiness: /readyz fails while Postgres or Redis is away, and a container restarted
# for that (Swarm, autoheal) cannot start again until Postgres is back, while the running one keeps
# redirecting. Load balancers should use /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Create keys with: docker compose exec tracker node dist/cli/apikey.js create --name NAME
CMD ["node", "dist/server.js"]
