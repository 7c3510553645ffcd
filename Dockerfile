# syntax=docker/dockerfile:1
# The operator's image: a static (musl) binary on an empty base, running as 65532:65532.
#
#   docker build -t konnect-plugin-operator:0.1.0 .
#   (or: buildah bud -t konnect-plugin-operator:0.1.0 .  /  podman build ...)
#
# The build needs the base image below and crates.io; the final image holds only the binary and
# the CA bundle (the Konnect client verifies TLS against the system roots).

# The toolchain CI builds with (the crate needs rust-version 1.89 or newer).
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS builder
# musl-dev: the C runtime ring links against; ca-certificates: copied into the final stage.
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
COPY src ./src
# On Alpine the host target is x86_64/aarch64-unknown-linux-musl, linked statically by default.
# Cache mounts keep the registry and target dir between builds; the binary is copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin konnect-plugin-operator \
 && mkdir -p /out \
 && cp target/release/konnect-plugin-operator /out/ \
 && /out/konnect-plugin-operator --version

FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/konnect-plugin-operator /konnect-plugin-operator
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# 65532: the conventional "nonroot" id of distroless images; no shell, no package manager.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/konnect-plugin-operator"]
CMD ["--help"]
