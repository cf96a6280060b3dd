# Static binary (pure-Go SQLite, no cgo) on a distroless base, run as
# non-root. Build with the version stamped into `scim-bridge version` and
# the scim_bridge_build_info metric:
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t scim-bridge .
FROM golang:1.26.8-bookworm AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .ci/run runs this same build command on every change.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /scim-bridge ./cmd/scim-bridge
RUN mkdir -p /state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /scim-bridge /scim-bridge
COPY --from=build --chown=nonroot:nonroot /state /var/lib/scim-bridge
ENV SCIM_BRIDGE_STORE=sqlite:/var/lib/scim-bridge/state.db
VOLUME /var/lib/scim-bridge
# SCIM listener, admin listener (/metrics, /healthz, /readyz).
EXPOSE 8080 9090
USER nonroot
# Liveness of the admin listener (admin_listen, default :9090, on loopback;
# HTTPS when admin_tls is set). --ready would also need Sigma and the store.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["/scim-bridge", "healthcheck"]
ENTRYPOINT ["/scim-bridge"]
CMD ["serve"]
