package chart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

func TestChart(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Helm chart and dashboard")
}

// chartDir is the chart under test, relative to this package.
const chartDir = "../../charts/apinet-hub"

// helmBinary is bin/servers/helm (or $APINET_HUB_SERVERS/helm).
var helmBinary = filepath.Join(fleet.DefaultServersDir(), "helm")

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
})

// requireHelm skips the spec when the helm binary is missing; the
// dashboard's specs need none.
func requireHelm() {
	if _, err := os.Stat(helmBinary); err != nil {
		Skip(fmt.Sprintf("%s is missing: build it with `hack/install-servers.sh helm` (make servers does)", helmBinary))
	}
}

// helm runs the helm binary with a private home, so that no user's
// repositories or plugins take part, and returns its stdout; a failure's
// error carries stderr.
func helm(ctx context.Context, args ...string) (string, error) {
	home := GinkgoT().TempDir()
	cmd := exec.CommandContext(ctx, helmBinary, args...)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %v: %w: %s", args, err, stderr.String())
	}
	return stdout.String(), nil
}

// clusterProfileAPI is the API version helm's capabilities must hold for
// the chart to render without crds.install: a cluster that serves
// ClusterProfiles.
const clusterProfileAPI = "multicluster.x-k8s.io/v1alpha1/ClusterProfile"

// render runs `helm template` for release "hub" in namespace apinet-hub with
// values (nil: the chart's defaults), as for a cluster that serves
// ClusterProfiles (--api-versions), and returns the output.
func render(ctx context.Context, values map[string]any) (string, error) {
	return renderArgs(ctx, values, "--api-versions", clusterProfileAPI)
}

// renderArgs runs `helm template` like render with further args instead of
// render's --api-versions.
func renderArgs(ctx context.Context, values map[string]any, extra ...string) (string, error) {
	args := append([]string{"template", "hub", chartDir, "--namespace", hubNamespace}, extra...)
	if values != nil {
		file, err := valuesFile(values)
		if err != nil {
			return "", err
		}
		args = append(args, "--values", file)
	}
	return helm(ctx, args...)
}

// valuesFile writes values into a temporary values file.
func valuesFile(values map[string]any) (string, error) {
	data, err := json.Marshal(values) // JSON is YAML
	if err != nil {
		return "", err
	}
	file := filepath.Join(GinkgoT().TempDir(), "values.yaml")
	return file, os.WriteFile(file, data, 0o600)
}

// renderObjects renders like render and decodes the manifests.
func renderObjects(ctx context.Context, values map[string]any) []*unstructured.Unstructured {
	GinkgoHelper()
	out, err := render(ctx, values)
	Expect(err).NotTo(HaveOccurred())
	objs, err := decode(out)
	Expect(err).NotTo(HaveOccurred())
	return objs
}

// decode splits a multi-document manifest into objects, skipping empty
// documents.
func decode(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// isHook tells a helm hook (the helm test Pods), which helm template
// renders but helm install does not create.
func isHook(o *unstructured.Unstructured) bool {
	_, hook := o.GetAnnotations()["helm.sh/hook"]
	return hook
}

// installed are the objects of a rendering that helm install creates: all
// but the hooks.
func installed(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if !isHook(o) {
			out = append(out, o)
		}
	}
	return out
}

// find returns the rendered objects of kind, in order.
func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// kinds maps "<kind> <namespace>/<name>" of every object, for readable
// failure messages.
func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName()))
	}
	return out
}
