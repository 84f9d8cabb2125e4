# syntax=docker/dockerfile:1
#
# octogate container image.
#
#   docker build -t octogate:0.1.0 .
#   docker run --read-only --cap-drop ALL -p 4180:4180 \
#     -v ./deploy/site.toml:/etc/octogate/site.toml:ro octogate:0.1.0
#
# Expected image size: ~25-30 MB. The distroless cc base (glibc, libgcc, no shell,
# no package manager) is ~22 MB; the release binary is ~6 MB after stripping. TLS
# roots are compiled into the binary (webpki-roots), so the image needs no CA bundle,
# and the crypto provider is ring, so no OpenSSL either.
#
# Runtime contract:
#   - runs as the distroless "nonroot" user (uid/gid 65532);
#   - writes nothing to its filesystem (logs go to stderr, audit to stdout), so it
#     runs with a read-only root filesystem and no tmpfs;
#   - reads its config from /etc/octogate/site.toml (mount it) and its secrets from
#     wherever the config's "file:" / "env:" references point (e.g. /run/secrets/...);
#   - HEALTHCHECK uses the binary itself: the image has no shell and no curl.

ARG RUST_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

########################################################################### build
FROM ${RUST_IMAGE} AS build

WORKDIR /src
# Strip symbols from the release binary (keeps the image small); no other profile change.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never

# Dependency-caching layer: build every dependency against stub sources, so that
# changing only src/ does not rebuild the dependency graph.
# (If Cargo.toml gains explicit [[bench]]/[[test]]/[[example]] paths, add stubs here.)
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && printf 'fn main() {}\n' > src/main.rs \
 && printf '\n' > src/lib.rs \
 && cargo build --release --locked --bin octogate \
 && rm -rf src target/release/octogate target/release/deps/octogate-* \
           target/release/deps/liboctogate-* target/release/.fingerprint/octogate-*

# The real sources.
COPY src ./src
RUN cargo build --release --locked --bin octogate \
 && install -D -m 0755 target/release/octogate /out/octogate

######################################################################### runtime
FROM ${RUNTIME_IMAGE}

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="octogate" \
      org.opencontainers.image.description="Single sign-on for October CMS backends: OpenID Connect (Okta) authenticating reverse proxy" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=build /out/octogate /usr/local/bin/octogate
# Reference copy of every config key; the live config is mounted at /etc/octogate/site.toml.
COPY config/example.toml /usr/share/doc/octogate/example.toml

USER 65532:65532
EXPOSE 4180
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/octogate","healthcheck","--url","http://127.0.0.1:4180/healthz"]
ENTRYPOINT ["/usr/local/bin/octogate"]
CMD ["run","--config","/etc/octogate/site.toml"]
