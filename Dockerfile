# Tally's own image: the `tally` CLI and the daemons tally-ingest,
# tally-aggregate and tally-api, built from this checkout. compose/ runs it;
# docs/compose.md says how.
#
#   docker build -t tally:local .
#
# Build stage: Debian's -dev packages, the same ones scripts/install-deps
# installs on a bare machine (cmocka only because CMakeLists.txt requires it
# at configure time; no test is built here).
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake make gcc libc6-dev pkg-config \
      libpq-dev libmongoc-dev libbson-dev librdkafka-dev libjansson-dev \
      libcurl4-openssl-dev libmicrohttpd-dev libssl-dev libcmocka-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Every executable lands in /out whatever folder defines it.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DCMAKE_RUNTIME_OUTPUT_DIRECTORY=/out \
 && cmake --build /build -j"$(nproc)" --target tally tally-ingest tally-aggregate tally-alerts tally-api \
 && strip /out/tally /out/tally-ingest /out/tally-aggregate /out/tally-alerts /out/tally-api

# Runtime stage: the shared libraries only, plus curl for the healthcheck of
# tally-api. Runs as an unprivileged user; nothing is written inside.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpq5 libmongoc-1.0-0 librdkafka1 libjansson4 libcurl4 libmicrohttpd12 libssl3 \
      tzdata ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin tally
COPY --from=build /out/tally /out/tally-ingest /out/tally-aggregate /out/tally-alerts /out/tally-api /usr/local/bin/
USER tally:tally
# Each compose service names its own command; alone, the image explains itself.
CMD ["tally", "--help"]
