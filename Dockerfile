# syntax=docker/dockerfile:1
# The operator's image: a static (musl) binary on an empty base, running as 65532:65532.
#
#   docker build -t konnect-plugin-operator:0.1.0 .
#   (or: buildah bud -t konnect-plugin-operator:0.1.0 .  /  podman build ...)
#
# The build needs the base image below and crates.io; the final image holds only the binary and
# the CA bundle (the Konnect client verifies TLS against the system roots).
#
# Without a registry (CI has none, so no base image can be pulled) the binary is built on the
# host and handed in as the `dist` stage; the builder stage is then skipped (.ci/image does this):
#
#   cargo build --release --target x86_64-unknown-linux-musl --bin konnect-plugin-operator
#   mkdir dist && cp target/x86_64-unknown-linux-musl/release/konnect-plugin-operator dist/ \
#     && cp /etc/ssl/certs/ca-certificates.crt dist/
#   buildah bud --build-context dist=dist -t konnect-plugin-operator:0.1.0 .

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

# What the final image takes: the static binary and the CA bundle, side by side.
FROM scratch AS dist
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /ca-certificates.crt
COPY --from=builder /out/konnect-plugin-operator /konnect-plugin-operator

FROM scratch
COPY --from=dist /ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=dist /konnect-plugin-operator /konnect-plugin-operator
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# 65532: the conventional "nonroot" id of distroless images; no shell, no package manager.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/konnect-plugin-operator"]
CMD ["--help"]
