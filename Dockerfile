# syntax=docker/dockerfile:1
# Both MAS binaries from one build. Targets: `chat-server` (default) and
# `mcp-server`:  docker build --target mcp-server -t mas-mcp-server .
# The dependency layer is cached (cargo-chef) and rebuilt only when
# Cargo.toml/Cargo.lock change; the runtime image is Debian slim, non-root,
# with a health check. Data sets, web assets and templates are compiled in.

FROM lukemathwalker/cargo-chef:latest-rust-1-bookworm AS chef
WORKDIR /src

FROM chef AS plan
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=plan /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p mcp-server -p chat-server \
    && install -m 0755 target/release/chat-server target/release/mcp-server /usr/local/bin/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/mas --create-home mas
COPY docker/entrypoint.sh /usr/local/bin/mas-entrypoint
ENV LOG_FORMAT=json
WORKDIR /var/lib/mas
USER mas
ENTRYPOINT ["mas-entrypoint"]

FROM runtime AS mcp-server
COPY --from=build /usr/local/bin/mcp-server /usr/local/bin/mcp-server
ENV MCP_HOST=0.0.0.0 MCP_PORT=8001
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8001/health || exit 1
CMD ["mcp-server", "serve"]

FROM runtime AS chat-server
COPY --from=build /usr/local/bin/chat-server /usr/local/bin/chat-server
ENV CHAT_HOST=0.0.0.0 CHAT_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/health || exit 1
CMD ["chat-server", "serve"]
