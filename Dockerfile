# syntax=docker/dockerfile:1
# Switchboard: a multi-stage build. The first stage builds the WASM UI (Trunk) and the server;
# the second is a slim Debian with the binary, the built site and the migrations baked in.
# Build:  docker build -t switchboard .
# Run:    see deploy/compose.yaml and docs/deployment.md.

FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The same tools, at the same versions, as scripts/setup.sh installs.
RUN rustup target add wasm32-unknown-unknown \
 && cargo install wasm-bindgen-cli --version 0.2.130 \
 && cargo install trunk --version 0.21.14 --locked
COPY tools/package.json tools/package-lock.json tools/
RUN cd tools && npm ci --no-audit --no-fund --loglevel=error
COPY . .
ENV PATH="/src/tools/node_modules/.bin:${PATH}"
RUN trunk build --release \
 && cargo build --release -p switchboard -p twilio-sim \
 && cp target/release/switchboard target/release/twilio-sim /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/switchboard --create-home switchboard
COPY --from=build /usr/local/bin/switchboard /usr/local/bin/twilio-sim /usr/local/bin/
COPY --from=build /src/target/site /usr/share/switchboard/site
USER switchboard
WORKDIR /var/lib/switchboard
ENV SWITCHBOARD_BIND=0.0.0.0:3000 \
    SWITCHBOARD_DATA_DIR=/var/lib/switchboard/data \
    SWITCHBOARD_SITE_ROOT=/usr/share/switchboard/site
EXPOSE 3000
# Ready means: the database answers and every worker runs (503 while shutting down).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD curl -fsS http://127.0.0.1:3000/readyz || exit 1
# SIGTERM drains: new webhooks get 503 while the ones in flight are stored.
STOPSIGNAL SIGTERM
ENTRYPOINT ["switchboard"]
CMD ["serve"]
