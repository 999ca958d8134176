// Command krew makes a release of the kubectl plugin: for each platform it
// builds the apinet-hub binary, packs it as
// apinet-hub_<version>_<os>_<arch>.tar.gz (the binary apinet-hub inside, as
// plugins/apinet-hub.yaml's files entries expect), and writes the krew
// manifest of that release: plugins/apinet-hub.yaml with spec.version, every
// uri and every sha256 filled in, and only the platforms built.
//
//	go run ./hack/krew -version v0.1.0 [-out dist] [-platforms linux/amd64,...]
//
// Upload the archives to the GitHub release of that version; the written
// manifest installs from it (kubectl krew install --manifest=dist/apinet-hub.yaml),
// or from a local archive (--archive=dist/apinet-hub_..._linux_amd64.tar.gz).
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

const (
	manifestPath = "plugins/apinet-hub.yaml"
	releaseURL   = "https://github.com/apinet-hub/apinet-hub/releases/download/"
)

var semver = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

func main() {
	version := flag.String("version", "", "the release, a v-prefixed semantic version (required)")
	out := flag.String("out", "dist", "directory of the archives and the manifest")
	platforms := flag.String("platforms", "", "comma-separated os/arch to build (default: every platform of "+manifestPath+")")
	binary := flag.String("binary", "", "pack this binary, built for the one platform of -platforms, instead of building it")
	flag.Parse()
	if *binary != "" && (*platforms == "" || strings.Contains(*platforms, ",")) {
		fmt.Fprintln(os.Stderr, "krew: -binary needs -platforms naming its one platform")
		os.Exit(2)
	}
	if err := run(*version, *out, *platforms, *binary); err != nil {
		fmt.Fprintln(os.Stderr, "krew:", err)
		os.Exit(1)
	}
}

func run(version, out, only, binary string) error {
	if !semver.MatchString(version) {
		return fmt.Errorf("-version %q is no v-prefixed semantic version", version)
	}
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return fmt.Errorf("run from the repository's root: %w", err)
	}
	var manifest map[string]any
	if err := yaml.Unmarshal(raw, &manifest); err != nil {
		return fmt.Errorf("%s: %w", manifestPath, err)
	}
	spec, _ := manifest["spec"].(map[string]any)
	entries, _ := spec["platforms"].([]any)
	if spec == nil || len(entries) == 0 {
		return fmt.Errorf("%s: no spec.platforms", manifestPath)
	}
	var want []string
	if only != "" {
		want = strings.Split(only, ",")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var kept []any
	for _, e := range entries {
		entry, _ := e.(map[string]any)
		selector, _ := entry["selector"].(map[string]any)
		labels, _ := selector["matchLabels"].(map[string]any)
		goos, _ := labels["os"].(string)
		goarch, _ := labels["arch"].(string)
		platform := goos + "/" + goarch
		if goos == "" || goarch == "" {
			return fmt.Errorf("%s: a platform without os and arch labels", manifestPath)
		}
		if want != nil && !slices.Contains(want, platform) {
			continue
		}
		name := fmt.Sprintf("apinet-hub_%s_%s_%s.tar.gz", version, goos, goarch)
		sum, err := buildArchive(filepath.Join(out, name), goos, goarch, version, binary)
		if err != nil {
			return fmt.Errorf("%s: %w", platform, err)
		}
		entry["uri"] = releaseURL + version + "/" + name
		entry["sha256"] = sum
		kept = append(kept, entry)
		fmt.Printf("%s %s\n", sum, name)
	}
	if len(kept) == 0 {
		return fmt.Errorf("-platforms %q names no platform of %s", only, manifestPath)
	}
	spec["version"], spec["platforms"] = version, kept
	data, err := yaml.Marshal(manifest)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "apinet-hub.yaml"), data, 0o644)
}

// buildArchive builds the binary for goos/goarch, stamped with version
// (apinet-hub version), and packs it as the file
// apinet-hub (mode 0755) into a gzipped tar at path; it returns the
// archive's SHA-256 in hex.
func buildArchive(path, goos, goarch, version, bin string) (string, error) {
	if bin == "" {
		dir, err := os.MkdirTemp("", "krew-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "apinet-hub")
		if err := build(bin, goos, goarch, version); err != nil {
			return "", err
		}
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	gz := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "apinet-hub", Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		f.Close()
		return "", err
	}
	if _, err := tw.Write(content); err != nil {
		f.Close()
		return "", err
	}
	if err := errors.Join(tw.Close(), gz.Close(), f.Close()); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// build builds the binary for goos/goarch at bin, stamped with version.
func build(bin, goos, goarch, version string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "./cmd/apinet-hub")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}
