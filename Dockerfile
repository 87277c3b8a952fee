# The temporal-dlq worker. Build: docker build -t temporal-dlq-worker .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY scripts ./scripts
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
USER node
# The V8 flags and MALLOC_ARENA_MAX bound the worker's memory (src/worker/memory-settings.ts; test/worker-flags.test.ts
# keeps them in step).
ENV MALLOC_ARENA_MAX=2
CMD ["node", "--max-semi-space-size=2", "--heap-growing-percent=30", "dist/src/worker/main.js"]
