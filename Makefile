# apinet-hub — see README.md. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO ?= go
BIN := $(CURDIR)/bin
SERVERS := $(BIN)/servers
export APINET_HUB_SERVERS := $(SERVERS)
# The whole suite; CI's budget is 90 min, the suite aims for well under 30.
TEST_TIMEOUT ?= 30m
TEST_FLAGS ?=

FUZZTIME ?= 30s
# Each fuzz target's short run inside `make test`.
FUZZTIME_SHORT ?= 3s
# Hub SIGKILLs of the e2e churn case in `make soak` (10 in `make test`).
SOAK_HUB_KILLS ?= 50
# Extra flags of `make run`, e.g. RUN_ARGS=--for=2m to stop by itself.
RUN_ARGS ?=
# `make bench`: K IronCore members × N objects per kind, steady RATE objects/s
# in total; BENCH_ARGS for further flags (go run ./test/bench -h).
K ?= 4
N ?= 200
RATE ?= 20
BENCH_ARGS ?=

.PHONY: help build servers test lint chart run fuzz clean krew

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/apinet-hub, and bin/kubectl-apinet_hub linked to it (put bin/ on PATH: kubectl apinet-hub)
	$(GO) build -o $(BIN)/apinet-hub ./cmd/apinet-hub
	ln -sf apinet-hub $(BIN)/kubectl-apinet_hub

# `make krew VERSION=v0.1.0`: the kubectl plugin's release: an archive per
# platform of plugins/apinet-hub.yaml and that manifest filled in, in dist/.
krew: ## build the krew release archives and manifest of VERSION into dist/ (hack/krew)
	@test -n "$(VERSION)" || { echo "make krew needs VERSION=vX.Y.Z" >&2; exit 2; }
	$(GO) run ./hack/krew -version $(VERSION) -out dist

servers: ## build the real API servers into bin/servers (skipped when up to date)
	hack/install-servers.sh --dest $(SERVERS) kube ironcore apinet apinet-controller-manager apinetlet helm prometheus >/dev/null

# The provider's engagement state machine runs under the race detector (its
# storm case races rotations against engagement jobs); everything else without.
RACE_PACKAGES := ./providers/

test: servers ## install the servers if missing, run the whole suite (the provider with -race), then each fuzz target for FUZZTIME_SHORT
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $$($(GO) list ./... | grep -v -x -F -f <($(GO) list $(RACE_PACKAGES)))
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(RACE_PACKAGES)
	@$(MAKE) --no-print-directory fuzz-short

lint: ## gofmt and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go') $$(git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

chart: ## helm lint --strict and helm template of charts/apinet-hub
	hack/install-servers.sh --dest $(SERVERS) helm >/dev/null
	$(SERVERS)/helm lint --strict charts/apinet-hub
	$(SERVERS)/helm template apinet-hub charts/apinet-hub --namespace apinet-hub --api-versions multicluster.x-k8s.io/v1alpha1/ClusterProfile >/dev/null

.PHONY: fuzz-short soak

fuzz: ## run every fuzz target for FUZZTIME (default 30s) each
	GO=$(GO) hack/fuzz.sh $(FUZZTIME)

fuzz-short: ## run every fuzz target for FUZZTIME_SHORT (default 3s) each; part of make test
	GO=$(GO) hack/fuzz.sh $(FUZZTIME_SHORT)

soak: servers ## the e2e fault suite with SOAK_HUB_KILLS (default 50) hub kills in the churn case
	E2E_HUB_KILLS=$(SOAK_HUB_KILLS) $(GO) test -count=1 -timeout 60m $(TEST_FLAGS) ./test/e2e/ -v

run: servers build ## a local fleet on real servers with the hub running against it (Ctrl-C stops all)
	$(GO) build -o $(BIN)/localfleet ./test/localfleet
	$(BIN)/localfleet --hub $(BIN)/apinet-hub $(RUN_ARGS)

.PHONY: bench bench-scale

bench: servers build ## apinet-hub vs the real apinetlet vs a floor, and noisy neighbours, on real fleets (~50 min); writes test/bench/results
	$(GO) run ./test/bench -hub $(BIN)/apinet-hub -k $(K) -n $(N) -rate $(RATE) $(BENCH_ARGS)

# `make bench-scale`: the hub's cost per member at fleet sizes (SCALE_STEPS
# simulated members as scoped profiles over SCALE_CLUSTERS real IronCore
# clusters, one real peer); SCALE_ARGS for further flags (go run ./test/bench scale -h).
SCALE_STEPS ?= 25,50,100,200
SCALE_CLUSTERS ?= 2
bench-scale: servers build ## the hub's memory, watches and cold start at SCALE_STEPS members, on real servers; writes test/bench/results/scale-*.json
	$(GO) run ./test/bench scale -hub $(BIN)/apinet-hub -steps $(SCALE_STEPS) -clusters $(SCALE_CLUSTERS) $(SCALE_ARGS)

clean: ## remove built binaries and local run state
	rm -rf $(BIN) .run dist
