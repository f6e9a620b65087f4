# syntax=docker/dockerfile:1
# athlake's image: docker build --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) -t athlake:0.1.0 .
#
# The binary links DuckDB with cgo, so it needs glibc and libstdc++ at run
# time: the build stage is Debian 12 (bookworm), as is the runtime base,
# distroless cc, which carries glibc, libstdc++, libgcc_s and CA
# certificates and nothing else (no shell). The time zone database is
# compiled into the binary. TestReleaseBinary checks, with ldd, that the
# binary scripts/release-build makes needs nothing else.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# The same script, and so the same flags, as a release build outside docker.
RUN VERSION="${VERSION}" COMMIT="${COMMIT}" scripts/release-build /out/athlake

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/athlake /usr/local/bin/athlake
# distroless's nonroot user, by number so that Kubernetes can check
# runAsNonRoot. Configs and secrets come at run time (a ConfigMap, a Secret
# through the environment), never from the image.
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/athlake"]
CMD ["--help"]
