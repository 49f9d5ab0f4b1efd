# lmscore container: build with the official Swift image on Debian bookworm, run on bookworm-slim with
# only the runtime libraries. Scripts/check_container.sh (run in CI) checks that the runtime packages
# below provide every shared library the release binary needs, and that the build command here is the
# README's.

# ---- build ----
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd-dev zlib1g-dev libzstd-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
RUN swift package resolve
COPY Sources Sources
COPY Tests Tests
COPY Models Models
# build-command (keep identical to README.md and Scripts/check_container.sh)
RUN swift build -c release --static-swift-stdlib --product lmscore
RUN mkdir -p /out/bin /out/share/lmscore/models \
 && cp .build/release/lmscore /out/bin/ \
 && cp -R Models/lmscore-gpt2-small-en /out/share/lmscore/models/

# ---- run ----
FROM debian:bookworm-slim
# runtime-packages (the only libraries the binary links besides libc/libstdc++/libgcc)
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd12 zlib1g libzstd1 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin lmscore
COPY --from=build /out/bin/lmscore /usr/local/bin/lmscore
COPY --from=build /out/share/lmscore /usr/local/share/lmscore
COPY Config/lmscore.json /etc/lmscore/lmscore.json
# Every setting can be overridden with LMSCORE_<KEY> (docs/operations.md: Configuration).
ENV LMSCORE_CONFIG=/etc/lmscore/lmscore.json \
    LMSCORE_HOST=0.0.0.0 \
    LMSCORE_PORT=8080
USER lmscore
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 CMD ["lmscore", "healthcheck"]
ENTRYPOINT ["lmscore"]
# run-command
CMD ["serve"]
