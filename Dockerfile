# The image the Helm chart runs (charts/apinet-hub, image.repository).
# Build: docker build -t ghcr.io/apinet-hub/apinet-hub:<version> --build-arg VERSION=<version> .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /apinet-hub ./cmd/apinet-hub

FROM gcr.io/distroless/static:nonroot
COPY --from=build /apinet-hub /apinet-hub
USER 65532:65532
ENTRYPOINT ["/apinet-hub"]
