# The image the Helm chart runs (charts/apinet-hub, image.repository).
# Build: docker build -t ghcr.io/apinet-hub/apinet-hub:<version> --build-arg VERSION=<version> .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /apinet-hub ./cmd/apinet-hub
# Cluster Inventory's secret-reader exec plugin, from the module go.mod pins
# (the chart's secretReader.enabled).
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /secretreader sigs.k8s.io/cluster-inventory-api/plugins/secretreader/cmd/plugin

FROM gcr.io/distroless/static:nonroot
COPY --from=build /apinet-hub /apinet-hub
COPY --from=build /secretreader /plugins/secretreader
USER 65532:65532
ENTRYPOINT ["/apinet-hub"]
