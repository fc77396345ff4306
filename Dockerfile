# SPLIT hub image: a static binary on distroless, run as an unprivileged user.
#
#   docker build -t split .
#   docker run --rm -p 8080:8080 -p 5060:5060/udp -p 7882:7882/udp -p 20000-20099:20000-20099/udp \
#     -e SPLIT_RTP_PORT_MAX=20099 -v split-data:/var/lib/split split
#
# docs/deploy.md has the walk-through (configuration file, HTTPS, the ports to publish).
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# CGO_ENABLED=0: pure-Go Opus (gopus) and SQLite (modernc); the binary needs no libc
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/split-hub/split/internal/app.Version=${VERSION}" \
      -o /out/split ./cmd/split \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/split /usr/local/bin/split
COPY --from=build --chown=65532:65532 /out/data /var/lib/split
# Listen on every interface inside the container; data in the volume.
ENV SPLIT_HTTP_LISTEN=0.0.0.0:8080 \
    SPLIT_SIP_LISTEN_UDP=0.0.0.0:5060 \
    SPLIT_SIP_LISTEN_TCP=0.0.0.0:5060 \
    SPLIT_WEBRTC_BIND_IP=0.0.0.0 \
    SPLIT_RTP_BIND_IP=0.0.0.0 \
    SPLIT_DATA_DIR=/var/lib/split
VOLUME /var/lib/split
# HTTP (API, pages, signalling), SIP, ICE (all browsers' media), SIP-side RTP (rtp.port_min..port_max)
EXPOSE 8080/tcp 5060/udp 5060/tcp 7882/udp 20000-29999/udp
USER nonroot:nonroot
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 CMD ["/usr/local/bin/split", "health"]
ENTRYPOINT ["/usr/local/bin/split"]
CMD ["serve"]
