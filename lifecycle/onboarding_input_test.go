package lifecycle

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

func TestNewOnboarding(t *testing.T) {
	member := func(in OnboardingInput) OnboardingInput {
		in.Source, in.Namespace, in.ClusterManager, in.Timeout = "kc.yaml", "fleet", "apinet-hub-onboard", 7*time.Second
		if in.Role == "" {
			in.Role = clusterprofiles.RoleAPINet
		}
		return in
	}
	execUser := strings.Replace(validKubeconfig, "    token: secret-token\n",
		"    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: get-token\n      interactiveMode: Never\n", 1)
	for _, tc := range []struct {
		name       string
		kubeconfig string
		in         OnboardingInput
		wantErr    string
		wantInput  bool // an InputError
		check      func(t *testing.T, o *Onboarding, hasConfig bool)
	}{
		{
			name: "a stored kubeconfig, the name derived from the context", kubeconfig: validKubeconfig,
			in: member(OnboardingInput{}),
			check: func(t *testing.T, o *Onboarding, hasConfig bool) {
				if o.Name != "ctx" || o.Kubeconfig == nil || o.AccessProviders != nil || !hasConfig {
					t.Errorf("onboarding %+v, config %t", o, hasConfig)
				}
				if !reflect.DeepEqual(o.Labels, RoleLabels(clusterprofiles.RoleAPINet, "")) || o.Annotations != nil {
					t.Errorf("labels %v, annotations %v", o.Labels, o.Annotations)
				}
			},
		},
		{
			name: "settings and the apinet namespace become annotations", kubeconfig: validKubeconfig,
			in: member(OnboardingInput{Name: "m", Role: clusterprofiles.RoleIronCore, Peer: "a", APINetNamespace: "tenant",
				Annotations: map[string]string{"x.example/y": "z"}, TakeOver: true}),
			check: func(t *testing.T, o *Onboarding, _ bool) {
				want := map[string]string{"x.example/y": "z", clusterprofiles.AnnotationAPINetNamespace: "tenant"}
				if !reflect.DeepEqual(o.Annotations, want) || !o.TakeOver || o.Labels[clusterprofiles.LabelPeer] != "a" {
					t.Errorf("onboarding %+v", o)
				}
			},
		},
		{
			name: "an access provider with a dry run: no Secret, no config", kubeconfig: execUser,
			in: member(OnboardingInput{AccessProvider: "vault", DryRun: true}),
			check: func(t *testing.T, o *Onboarding, hasConfig bool) {
				if o.Kubeconfig != nil || len(o.AccessProviders) != 1 || o.AccessProviders[0].Name != "vault" || hasConfig {
					t.Errorf("onboarding %+v, config %t", o, hasConfig)
				}
			},
		},
		{
			name: "an access provider with checks: the caller's config", kubeconfig: execUser,
			in: member(OnboardingInput{AccessProvider: "vault"}),
			check: func(t *testing.T, o *Onboarding, hasConfig bool) {
				if o.Kubeconfig != nil || !hasConfig {
					t.Errorf("onboarding %+v, config %t", o, hasConfig)
				}
			},
		},
		{
			name: "a ServiceAccount to create: no kubeconfig yet", kubeconfig: execUser,
			in: member(OnboardingInput{CreateServiceAccount: true}),
			check: func(t *testing.T, o *Onboarding, hasConfig bool) {
				if o.Kubeconfig != nil || o.AccessProviders != nil || !hasConfig {
					t.Errorf("onboarding %+v, config %t", o, hasConfig)
				}
			},
		},
		{
			name: "a plugin user points to --access-provider", kubeconfig: execUser,
			in:      member(OnboardingInput{}),
			wantErr: `kc.yaml: context "ctx": user "u" gets its credentials from exec plugin "get-token": credentials from a plugin cannot be stored in a credential Secret; onboard with --access-provider NAME`,
		},
		{
			name: "no current context", kubeconfig: strings.Replace(validKubeconfig, "current-context: ctx\n", "", 1),
			in:      member(OnboardingInput{}),
			wantErr: "kc.yaml has no current-context; name one with --cluster-context",
		},
		{
			name: "no name from the context", kubeconfig: strings.ReplaceAll(validKubeconfig, "ctx", "'..'"),
			in:      member(OnboardingInput{}),
			wantErr: `cannot derive a profile name from context ".." of kc.yaml; pass --name`, wantInput: true,
		},
		{
			name: "a profile the hub refuses", kubeconfig: validKubeconfig,
			in:      member(OnboardingInput{Role: clusterprofiles.RoleAPINet, TakeOver: true}),
			wantErr: "take-over applies to role ironcore only", wantInput: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc, err := clientcmd.Load([]byte(tc.kubeconfig))
			if err != nil {
				t.Fatal(err)
			}
			tc.in.Kubeconfig = kc
			o, cfg, err := NewOnboarding(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				if errors.As(err, new(InputError)) != tc.wantInput {
					t.Errorf("errors.As(%v, InputError) = %t", err, !tc.wantInput)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg != nil && cfg.Timeout != tc.in.Timeout {
				t.Errorf("config timeout %s, want %s", cfg.Timeout, tc.in.Timeout)
			}
			tc.check(t, o, cfg != nil)
		})
	}
}

func TestFleetNamespace(t *testing.T) {
	for _, tc := range []struct {
		flag, file, want, wantErr string
	}{
		{flag: "", file: "fleet", want: "fleet"},
		{flag: "fleet", file: "", want: "fleet"},
		{flag: "fleet", file: "fleet", want: "fleet"},
		{flag: "a", file: "b", wantErr: `--namespace "a" differs from the fleet file's namespace "b"`},
		{flag: "", file: "", wantErr: "the fleet file names no namespace: pass --namespace"},
	} {
		got, err := FleetNamespace(tc.flag, tc.file)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr || !errors.As(err, new(InputError)) {
				t.Errorf("FleetNamespace(%q, %q) error %v, want InputError %q", tc.flag, tc.file, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("FleetNamespace(%q, %q) = %q, %v, want %q", tc.flag, tc.file, got, err, tc.want)
		}
	}
}
