package clusterprofiles

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// This file is the hub-side pairing: how the hub gives a role and a peer to
// ClusterProfiles it does not own (written by Open Cluster Management or
// another cluster manager) without labelling them. The operator writes the
// rules in the hub's configuration (the chart's `pairing` value, a file the
// hub reads at start); a profile's own LabelRole, where set, always wins.

// PairingAPIVersion and PairingKind head a pairing file.
const (
	PairingAPIVersion = "apinet-hub.ironcore.dev/v1alpha1"
	PairingKind       = "Pairing"
)

// maxPairingFile bounds the size of a pairing file.
const maxPairingFile = 1 << 20

// Status properties in which the hub records the role and peer a pairing
// rule gave a profile (unset for profiles that carry LabelRole), so that
// `apinet-hub status` and onboard see what the hub concluded without the
// hub's configuration.
const (
	PropertyRole = "apinet-hub.ironcore.dev/role"
	PropertyPeer = "apinet-hub.ironcore.dev/peer"
)

// Pairing is the hub's rules for profiles without LabelRole. The zero value
// and nil pair nothing: only labelled profiles are handled.
type Pairing struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Rules are tried in order; the first that matches a profile gives its
	// role and peer.
	Rules []PairingRule `json:"rules"`
}

// PairingRule gives a role, and for IronCore clusters a peer, to the
// profiles it selects: those in Namespace (any watched namespace if empty)
// that are named in Names (if set) and match Selector (if set). A rule
// must set Names or Selector, so that it never catches every profile by
// accident; `selector: {}` says so on purpose.
type PairingRule struct {
	Namespace string                `json:"namespace,omitempty"`
	Names     []string              `json:"names,omitempty"`
	Selector  *metav1.LabelSelector `json:"selector,omitempty"`
	Role      Role                  `json:"role"`
	// Peer is the apinet profile, in the profile's namespace, an IronCore
	// cluster maps into. Required for ironcore, refused for apinet.
	Peer string `json:"peer,omitempty"`

	selector labels.Selector
	names    map[string]bool
}

// LoadPairing reads a pairing file ("" reads nothing: no rules).
func LoadPairing(path string) (*Pairing, error) {
	if path == "" {
		return nil, nil
	}
	// Non-blocking: opening a FIFO would otherwise wait for a writer
	// (and stall the hub's start); the type is checked on what was opened.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("pairing file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("pairing file %s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPairingFile+1))
	if err != nil {
		return nil, fmt.Errorf("pairing file %s: %w", path, err)
	}
	pg, err := ParsePairing(data)
	if err != nil {
		return nil, fmt.Errorf("pairing file %s: %w", path, err)
	}
	return pg, nil
}

// ParsePairing reads and checks a pairing file's contents: one YAML
// document whose keys are matched exactly (case included). Unknown and
// duplicate fields are errors (a misspelt key would otherwise pair more than
// meant), and so is a second document (its rules would be ignored), and
// every rule that could not pair anything as written.
func ParsePairing(data []byte) (*Pairing, error) {
	if len(data) > maxPairingFile {
		return nil, fmt.Errorf("larger than %d bytes", maxPairingFile)
	}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var doc []byte
	for {
		d, err := docs.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(d)) == 0 || isComment(d) {
			continue
		}
		if doc != nil {
			return nil, errors.New("holds more than one YAML document; write one Pairing with all its rules")
		}
		doc = d
	}
	asJSON, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	pg := &Pairing{}
	strict, err := kjson.UnmarshalStrict(asJSON, pg)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(strict...); err != nil {
		return nil, err
	}
	if pg.APIVersion != PairingAPIVersion || pg.Kind != PairingKind {
		return nil, fmt.Errorf("apiVersion %q, kind %q: want %s, %s", pg.APIVersion, pg.Kind, PairingAPIVersion, PairingKind)
	}
	var errs []error
	for i := range pg.Rules {
		if err := pg.Rules[i].compile(); err != nil {
			errs = append(errs, fmt.Errorf("rule %d: %w", i+1, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return pg, nil
}

// isComment tells whether a YAML document holds only comments.
func isComment(doc []byte) bool {
	for line := range strings.Lines(string(doc)) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

func (r *PairingRule) compile() error {
	if r.Namespace != "" {
		if errs := validation.IsDNS1123Label(r.Namespace); len(errs) > 0 {
			return fmt.Errorf("namespace %q: %s", r.Namespace, strings.Join(errs, "; "))
		}
	}
	if len(r.Names) == 0 && r.Selector == nil {
		return errors.New("sets neither names nor selector; write `selector: {}` to select every profile on purpose")
	}
	if len(r.Names) > 0 {
		r.names = map[string]bool{}
		for _, n := range r.Names {
			if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
				return fmt.Errorf("name %q: %s", n, strings.Join(errs, "; "))
			}
			r.names[n] = true
		}
	}
	r.selector = labels.Everything()
	if r.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(r.Selector)
		if err != nil {
			return fmt.Errorf("selector: %w", err)
		}
		r.selector = s
	}
	switch r.Role {
	case RoleIronCore:
		if r.Peer == "" {
			return errors.New("role ironcore needs a peer (the apinet ClusterProfile the clusters map into)")
		}
		if errs := validation.IsDNS1123Subdomain(r.Peer); len(errs) > 0 {
			return fmt.Errorf("peer %q: %s", r.Peer, strings.Join(errs, "; "))
		}
	case RoleAPINet:
		if r.Peer != "" {
			return fmt.Errorf("role apinet takes no peer (peer %q)", r.Peer)
		}
	default:
		return fmt.Errorf("role %q is not %q or %q", r.Role, RoleIronCore, RoleAPINet)
	}
	return nil
}

func (r *PairingRule) matches(cp *clusterinventoryv1alpha1.ClusterProfile) bool {
	if r.selector == nil {
		return false // not compiled: ParsePairing makes rules
	}
	if r.Namespace != "" && r.Namespace != cp.Namespace {
		return false
	}
	if r.names != nil && !r.names[cp.Name] {
		return false
	}
	return r.selector.Matches(labels.Set(cp.Labels))
}

// Assignment is where a profile's role and peer come from.
type Assignment struct {
	Role, Peer string
	// From names the source in messages: the label, a pairing rule, or
	// the hub's record.
	From string
	// Paired is true when a pairing rule gave them (the hub records them
	// as PropertyRole and PropertyPeer).
	Paired bool
}

// Assign returns a profile's role and peer: from LabelRole and LabelPeer if
// the profile carries LabelRole, else from the first rule that matches it.
// ok is false when the hub does not handle the profile.
func (pg *Pairing) Assign(cp *clusterinventoryv1alpha1.ClusterProfile) (a Assignment, ok bool) {
	if role, labelled := cp.Labels[LabelRole]; labelled {
		return Assignment{Role: role, Peer: cp.Labels[LabelPeer], From: "label"}, true
	}
	if pg == nil {
		return Assignment{}, false
	}
	for i := range pg.Rules {
		if r := &pg.Rules[i]; r.matches(cp) {
			return Assignment{Role: string(r.Role), Peer: r.Peer, From: fmt.Sprintf("pairing rule %d", i+1), Paired: true}, true
		}
	}
	return Assignment{}, false
}

// Selects tells whether the hub handles the profile.
func (pg *Pairing) Selects(cp *clusterinventoryv1alpha1.ClusterProfile) bool {
	_, ok := pg.Assign(cp)
	return ok
}

// PairsUnlabelled tells whether the pairing may select profiles without
// LabelRole, so that the hub must watch every profile, not only labelled ones.
func (pg *Pairing) PairsUnlabelled() bool {
	return pg != nil && len(pg.Rules) > 0
}

// Parse reads a profile the pairing selects (see Assign and the package
// function Parse, which is Parse with no pairing).
func (pg *Pairing) Parse(cp *clusterinventoryv1alpha1.ClusterProfile) (*Profile, *Problem) {
	a, ok := pg.Assign(cp)
	if !ok {
		a = Assignment{From: "label"}
	}
	return parseAssigned(cp, a)
}

// Recorded is the assignment the hub recorded on a profile: its labels if it
// carries LabelRole, else the role and peer a pairing rule gave it
// (PropertyRole, PropertyPeer). ok is false when neither is there. It is how
// commands that do not know the hub's pairing read a profile.
func Recorded(cp *clusterinventoryv1alpha1.ClusterProfile) (Assignment, bool) {
	if role, labelled := cp.Labels[LabelRole]; labelled {
		return Assignment{Role: role, Peer: cp.Labels[LabelPeer], From: "label"}, true
	}
	role := Property(cp, PropertyRole)
	if role == "" {
		return Assignment{}, false
	}
	return Assignment{Role: role, Peer: Property(cp, PropertyPeer), From: "the hub's pairing", Paired: true}, true
}

// ParseRecorded reads a profile as the hub last did (Recorded).
func ParseRecorded(cp *clusterinventoryv1alpha1.ClusterProfile) (*Profile, *Problem) {
	a, ok := Recorded(cp)
	if !ok {
		a = Assignment{From: "label"}
	}
	return parseAssigned(cp, a)
}
