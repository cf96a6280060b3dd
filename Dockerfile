# Static binary (pure-Go SQLite, no cgo) on a distroless base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .ci/run runs this same build command on every change.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /scim-bridge ./cmd/scim-bridge
RUN mkdir -p /state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /scim-bridge /scim-bridge
COPY --from=build --chown=nonroot:nonroot /state /var/lib/scim-bridge
ENV SCIM_BRIDGE_STORE=sqlite:/var/lib/scim-bridge/state.db
VOLUME /var/lib/scim-bridge
EXPOSE 8080 9090
USER nonroot
ENTRYPOINT ["/scim-bridge"]
CMD ["serve"]
