package chart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// TestKrewRelease makes a krew release with hack/krew for this machine's
// platform, packing the binary the suite builds, and checks what krew
// installs: a manifest of that version whose uri and sha256 name the
// archive, and an archive holding the executable apinet-hub, which runs as
// kubectl's plugin once installed as kubectl-apinet_hub.
func TestKrewRelease(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := fleet.BuildHub(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	const version = "v0.0.1-rc.1"
	platform := runtime.GOOS + "/" + runtime.GOARCH
	cmd := exec.CommandContext(ctx, "go", "run", "./hack/krew", "-version", version, "-out", out, "-platforms", platform, "-binary", bin)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/krew: %v: %s", err, b)
	}

	p := checkKrewManifest(t, filepath.Join(out, "apinet-hub.yaml"), []string{platform})
	if p.Spec.Version != version {
		t.Errorf("spec.version %q, want %s", p.Spec.Version, version)
	}
	archive := "apinet-hub_" + version + "_" + runtime.GOOS + "_" + runtime.GOARCH + ".tar.gz"
	pl := p.Spec.Platforms[0]
	if want := "https://github.com/apinet-hub/apinet-hub/releases/download/" + version + "/" + archive; pl.URI != want {
		t.Errorf("uri %q, want %s", pl.URI, want)
	}
	data, err := os.ReadFile(filepath.Join(out, archive))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); pl.Sha256 != hex.EncodeToString(sum[:]) {
		t.Errorf("sha256 %s is not the archive's %x", pl.Sha256, sum)
	}

	// The archive holds exactly the binary, under the name files.from says.
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != pl.Files[0].From || h.Mode&0o111 == 0 {
		t.Errorf("archive holds %q mode %o, want the executable %q", h.Name, h.Mode, pl.Files[0].From)
	}
	content, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("archive holds more than %s (%v)", h.Name, err)
	}
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(content, want) {
		t.Errorf("archive's %s is not the binary packed", h.Name)
	}

	// Installed as krew does (files.to), it names itself kubectl apinet-hub.
	installed := filepath.Join(t.TempDir(), pl.Files[0].To)
	if err := os.WriteFile(installed, content, 0o755); err != nil {
		t.Fatal(err)
	}
	help, err := exec.CommandContext(ctx, installed, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v: %s", installed, err, help)
	}
	if !strings.Contains(string(help), "kubectl apinet-hub") {
		t.Errorf("%s --help does not name kubectl apinet-hub:\n%s", installed, help)
	}
}
