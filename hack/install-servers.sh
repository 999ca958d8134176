#!/usr/bin/env bash
# install-servers.sh: build the real API servers the tests and `make run` use,
# from the Go module proxy, into one folder (default: <repo>/bin/servers).
#
#   hack/install-servers.sh [--dest DIR] [COMPONENT ...]
#
# COMPONENTs (default: kube ironcore apinet):
#   kube                      kube-apiserver + etcd   (k8s.io/kubernetes v1.35.3, etcd v3.6.5)
#   ironcore                  ironcore-apiserver      (github.com/ironcore-dev/ironcore v0.4.3)
#   apinet                    apinet-apiserver        (github.com/ironcore-dev/ironcore-net v0.2.4)
#   apinet-controller-manager apinet-controller-manager (ironcore-net v0.2.4)
#   apinetlet                 apinetlet               (ironcore-net v0.2.4)
#   helm                      helm                    (helm.sh/helm/v3 v3.19.0; the chart tests)
#   prometheus                prometheus + promtool   (github.com/prometheus/prometheus v0.316.0 = Prometheus 3.16.0)
#
# Each component is built from a builder module under hack/servers/<module>
# (a go.mod + go.sum with `tool` directives and no Go files). Every hash is in
# those go.sum files, so no checksum-database lookup is made. A component whose
# stamp (script + go.mod + go.sum + go version + platform) matches is skipped.
#
# stdout carries exactly the absolute DEST folder (usable as KUBEBUILDER_ASSETS);
# logs go to stderr. Failures exit non-zero with "[install-servers] ERROR: ...".
set -euo pipefail

log() { echo "[install-servers] $*" >&2; }
die() { echo "[install-servers] ERROR: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
dest="$root/bin/servers"
components=()

while [ $# -gt 0 ]; do
	case "$1" in
	--dest) [ $# -ge 2 ] || die "--dest needs a folder"; dest=$2; shift 2 ;;
	--dest=*) dest=${1#--dest=}; shift ;;
	-h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) components+=("$1"); shift ;;
	esac
done
[ ${#components[@]} -gt 0 ] || components=(kube ironcore apinet)

command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go 1.26 (https://go.dev/dl) and retry"
gov=$(GOTOOLCHAIN=local go env GOVERSION)
case "$gov" in
go1.2[5-9]*|go1.[3-9]*) ;;
*) die "Go >= 1.25 is needed to build the servers, found $gov" ;;
esac

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

# One build at a time per DEST: parallel `make test` runs must not race.
exec 9>"$dest/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

k8s_version=v1.35.3
k8s_commit=6c1cd99aef09161ddb07b8ade6c9564e9b9bfe27
k8s_date=2026-03-18T00:00:00Z
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kube_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=35"
	kube_ldflags+=" -X $pkg.gitCommit=$k8s_commit -X $pkg.gitTreeState=clean -X $pkg.buildDate=$k8s_date"
done

# helm's release build stamps its version and the Kubernetes version it
# renders and lints for (its client-go v0.34 -> 1.34) the same way.
helm_version=v3.19.0
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
	helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=34"
done

# Prometheus stamps its release into prometheus/common/version the way its
# .promu.yml does. The module zip carries no git commit, so Revision names the
# module version; BuildDate is the 3.16.0 release day (reproducible builds).
# Built without the builtinassets tag: the web UI is not in the module zip, so
# /graph etc. are missing; the HTTP API (/api/v1/*, /-/ready) is all we use.
prom_version=3.16.0
prom_ldflags=""
for kv in Version=$prom_version Revision=v0.316.0 Branch=HEAD BuildUser=apinet-hub@install-servers BuildDate=20261104-00:00:00; do
	prom_ldflags+=" -X github.com/prometheus/common/version.$kv"
done

# component -> "module|outputs|packages|extra ldflags"; outputs and packages pair up.
spec() {
	case "$1" in
	kube) echo "kube|kube-apiserver etcd|k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3|$kube_ldflags" ;;
	ironcore) echo "ironcore|ironcore-apiserver|github.com/ironcore-dev/ironcore/cmd/ironcore-apiserver|" ;;
	apinet) echo "apinet|apinet-apiserver|github.com/ironcore-dev/ironcore-net/cmd/apiserver|" ;;
	apinet-controller-manager) echo "apinet|apinet-controller-manager|github.com/ironcore-dev/ironcore-net/cmd/controller-manager|" ;;
	apinetlet) echo "apinet|apinetlet|github.com/ironcore-dev/ironcore-net/cmd/apinetlet|" ;;
	helm) echo "helm|helm|helm.sh/helm/v3/cmd/helm|$helm_ldflags" ;;
	prometheus) echo "prometheus|prometheus promtool|github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool|$prom_ldflags" ;;
	*) die "unknown component '$1' (known: kube ironcore apinet apinet-controller-manager apinetlet helm prometheus)" ;;
	esac
}

smoke() { # name path
	case "$1" in
	kube-apiserver)
		v=$("$2" --version 2>&1) || die "$2 --version failed: $v"
		[ "$v" = "Kubernetes $k8s_version" ] || die "$2 reports '$v', want 'Kubernetes $k8s_version'" ;;
	etcd)
		v=$("$2" --version 2>&1) || die "$2 --version failed: $v"
		echo "$v" | grep -q "etcd Version: 3.6.5" || die "$2 reports '$v', want etcd 3.6.5" ;;
	helm)
		v=$("$2" version --template '{{.Version}}' 2>&1) || die "$2 version failed: $v"
		[ "$v" = "$helm_version" ] || die "$2 reports '$v', want '$helm_version'" ;;
	prometheus|promtool)
		v=$("$2" --version 2>&1) || die "$2 --version failed: $v"
		echo "$v" | head -n1 | grep -q "^$1, version $prom_version " || die "$2 reports '$v', want '$1, version $prom_version'" ;;
	*)
		"$2" --help >/dev/null 2>&1 || die "$2 --help failed: the binary does not run" ;;
	esac
}

for c in "${components[@]}"; do spec "$c" >/dev/null || exit 1; done

script_sum=$(sha256sum "$0" | cut -c1-16)
for c in "${components[@]}"; do
	IFS='|' read -r module outputs packages ldflags <<<"$(spec "$c")"
	moddir="$here/servers/$module"
	[ -f "$moddir/go.mod" ] && [ -f "$moddir/go.sum" ] || die "builder module $moddir is missing go.mod/go.sum"
	need=$(sed -n 's/^go \([0-9.]*\)$/go\1/p' "$moddir/go.mod")
	if [ -n "$need" ] && [ "$(printf '%s\n%s\n' "$need" "${gov%%[!0-9.go]*}" | sort -V | head -n1)" != "$need" ]; then
		die "component '$c' (module $moddir) needs Go >= ${need#go}, found $gov"
	fi
	stamp="$script_sum $(cat "$moddir/go.mod" "$moddir/go.sum" | sha256sum | cut -c1-16) $gov $(go env GOOS)/$(go env GOARCH)"
	stampfile="$dest/.stamp-$c"
	up_to_date=1
	for o in $outputs; do [ -x "$dest/$o" ] || up_to_date=0; done
	if [ $up_to_date = 1 ] && [ -f "$stampfile" ] && [ "$(cat "$stampfile")" = "$stamp" ]; then
		log "$c: up to date"
		continue
	fi
	log "$c: building $outputs from $moddir (cold: minutes; warm cache: seconds)"
	start=$(date +%s)
	tmp=$(mktemp -d "$dest/.build-XXXXXX")
	# shellcheck disable=SC2086
	if ! (cd "$moddir" && GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
		GONOSUMDB="github.com/ironcore-dev/ironcore-net,github.com/ironcore-dev/metalnet" \
		go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/" $packages) >&2; then
		rm -rf "$tmp"
		die "go build failed for component '$c' (module $moddir); see the go error above. If the module proxy refused a download, check GOPROXY ($(go env GOPROXY)) and that the pinned versions are served."
	fi
	read -ra outs <<<"$outputs"
	read -ra pkgs <<<"$packages"
	for i in "${!outs[@]}"; do
		built="$tmp/$(basename "${pkgs[$i]}")"
		[ "$(basename "${pkgs[$i]}")" = v3 ] && built="$tmp/server" # go names etcd's main package "server"
		[ -x "$built" ] || die "expected binary $built after building ${pkgs[$i]}"
		smoke "${outs[$i]}" "$built"
		mv -f "$built" "$dest/${outs[$i]}"
	done
	rm -rf "$tmp"
	echo "$stamp" >"$stampfile"
	log "$c: built in $(($(date +%s) - start))s"
done

{
	echo "kube-apiserver $k8s_version (k8s.io/kubernetes), etcd v3.6.5"
	echo "ironcore-apiserver github.com/ironcore-dev/ironcore v0.4.3"
	echo "apinet-* github.com/ironcore-dev/ironcore-net v0.2.4"
	echo "helm helm.sh/helm/v3 $helm_version"
	echo "prometheus, promtool github.com/prometheus/prometheus v0.316.0 (Prometheus $prom_version)"
} >"$dest/VERSIONS"
echo "$dest"
