package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

// The floor is the "ideal controller": it does the API calls a correct
// controller must do for each object and nothing else, with no watches and
// no caches. The bench runs it as a child process (`bench floor`) so that
// its CPU and memory are measured like a controller's, and tells it about
// every created object on stdin, one line "<member> <kind> <namespace>
// <name> <uid>", so it learns of objects faster than any watch could.
//
// Per Network: create the apinet Network named by the UID in the member's
// apinet namespace (the response carries the VNI the registry allocated),
// merge-patch the IronCore Network's finalizer and spec.providerID, patch
// status.state Available. Per VirtualIP: patch the finalizer, create the
// public apinet IP (the response carries the address), patch status.ip.
// With --apply (the floor-apply setup) the apinet object is written as
// apinetlet and the hub write it, by a forced server-side apply under
// apinetlet's field manager, instead of a create.

// floorMember is one member as the floor sees it.
type floorMember struct {
	name, apinetNamespace string
	client                client.Client
	apply                 bool
}

// floorFlags are the flags of `bench floor`.
type floorFlags struct {
	peerKubeconfig string
	members        []string // name=kubeconfig=apinetNamespace
	workers        int
	qps            float64
	burst          int
	apply          bool
}

func floorMain(args []string) int {
	fs := flag.NewFlagSet("bench floor", flag.ContinueOnError)
	var f floorFlags
	fs.StringVar(&f.peerKubeconfig, "peer-kubeconfig", "", "kubeconfig of the apinet peer")
	fs.Func("member", "name=kubeconfig=apinetNamespace of an IronCore member (repeatable)", func(v string) error {
		if strings.Count(v, "=") != 2 {
			return fmt.Errorf("%q is not name=kubeconfig=apinetNamespace", v)
		}
		f.members = append(f.members, v)
		return nil
	})
	fs.IntVar(&f.workers, "workers", 8, "objects mapped at once")
	fs.Float64Var(&f.qps, "qps", 100, "client QPS per cluster")
	fs.IntVar(&f.burst, "burst", 200, "client burst per cluster")
	fs.BoolVar(&f.apply, "apply", false, "server-side-apply the apinet objects (apinetlet's wire form) instead of creating them")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := runFloor(context.Background(), f, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench floor:", err)
		return 1
	}
	return 0
}

func floorClient(kubeconfig string, qps float64, burst int) (client.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	return client.New(cfg, client.Options{Scheme: fleet.Scheme})
}

// runFloor maps every object announced on in until in ends, then reports
// how many failed.
func runFloor(ctx context.Context, f floorFlags, in io.Reader, out io.Writer) error {
	peer, err := floorClient(f.peerKubeconfig, f.qps, f.burst)
	if err != nil {
		return err
	}
	members := map[string]*floorMember{}
	for _, spec := range f.members {
		parts := strings.SplitN(spec, "=", 3)
		c, err := floorClient(parts[1], f.qps, f.burst)
		if err != nil {
			return err
		}
		members[parts[0]] = &floorMember{name: parts[0], apinetNamespace: parts[2], client: c, apply: f.apply}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: parts[2]}}
		if err := peer.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("apinet namespace %s: %w", parts[2], err)
		}
	}
	fmt.Fprintln(out, "ready")

	type item struct {
		member          *floorMember
		kind            Kind
		namespace, name string
		uid             types.UID
	}
	work := make(chan item, 1024)
	var failed atomic.Int32
	var wg sync.WaitGroup
	for range max(f.workers, 1) {
		wg.Go(func() {
			for it := range work {
				var err error
				for attempt := range 5 { // a controller retries; so does the floor
					if attempt > 0 {
						time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
					}
					if it.kind == KindVirtualIP {
						err = floorVirtualIP(ctx, peer, it.member, it.namespace, it.name, it.uid)
					} else {
						err = floorNetwork(ctx, peer, it.member, it.namespace, it.name, it.uid)
					}
					if err == nil {
						break
					}
				}
				if err != nil {
					failed.Add(1)
					fmt.Fprintf(os.Stderr, "%s %s/%s of %s: %v\n", it.kind, it.namespace, it.name, it.member.name, err)
				}
			}
		})
	}
	scanner := bufio.NewScanner(in)
	var scanErr error
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) != 5 {
			scanErr = fmt.Errorf("bad line %q", scanner.Text())
			break
		}
		m := members[fields[0]]
		if m == nil {
			scanErr = fmt.Errorf("unknown member %q", fields[0])
			break
		}
		work <- item{member: m, kind: Kind(fields[1]), namespace: fields[2], name: fields[3], uid: types.UID(fields[4])}
	}
	close(work)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		scanErr = errors.Join(scanErr, fmt.Errorf("%d objects failed", n))
	}
	return errors.Join(scanErr, scanner.Err())
}

// originMeta is the metadata of the apinet object for an IronCore object:
// named by its UID, with the hub's cluster label and apinetlet's origin
// labels.
func originMeta(m *floorMember, o reconcilers.Origin, namespace string, uid types.UID) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: m.apinetNamespace, Name: string(uid), Labels: map[string]string{
		clusterprofiles.LabelCluster: clusterprofiles.LabelValue(multicluster.ClusterName(fleetNamespace + "/" + m.name)),
		o.UIDLabel():                 string(uid),
		o.NamespaceLabel():           namespace,
	}}
}

func floorNetwork(ctx context.Context, peer client.Client, m *floorMember, namespace, name string, uid types.UID) error {
	an := &apinetv1alpha1.Network{ObjectMeta: originMeta(m, reconcilers.OriginNetwork, namespace, uid)}
	if err := m.write(ctx, peer, an, nil); err != nil {
		return fmt.Errorf("apinet Network: %w", err)
	}
	if an.Spec.ID == "" {
		return fmt.Errorf("apinet Network %s has no VNI after create", an.Name)
	}
	id := reconcilers.NetworkID{Namespace: an.Namespace, Name: an.Name, ID: an.Spec.ID, UID: an.UID}.String()
	nw := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	patch := fmt.Sprintf(`{"metadata":{"finalizers":[%q]},"spec":{"providerID":%q}}`, reconcilers.FinalizerNetwork, id)
	if err := m.client.Patch(ctx, nw, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("finalizer and provider ID: %w", err)
	}
	status := fmt.Sprintf(`{"status":{"state":%q}}`, networkingv1alpha1.NetworkStateAvailable)
	if err := m.client.Status().Patch(ctx, nw, client.RawPatch(types.MergePatchType, []byte(status))); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}

func floorVirtualIP(ctx context.Context, peer client.Client, m *floorMember, namespace, name string, uid types.UID) error {
	vip := &networkingv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	patch := fmt.Sprintf(`{"metadata":{"finalizers":[%q]}}`, reconcilers.FinalizerVirtualIP)
	if err := m.client.Patch(ctx, vip, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("finalizer: %w", err)
	}
	ip := &apinetv1alpha1.IP{ObjectMeta: originMeta(m, reconcilers.OriginVirtualIP, namespace, uid),
		Spec: apinetv1alpha1.IPSpec{Type: apinetv1alpha1.IPTypePublic, IPFamily: corev1.IPv4Protocol}}
	if err := m.write(ctx, peer, ip, map[string]any{"type": ip.Spec.Type, "ipFamily": ip.Spec.IPFamily}); err != nil {
		return fmt.Errorf("apinet IP: %w", err)
	}
	if !ip.Spec.IP.IsValid() {
		return fmt.Errorf("apinet IP %s has no address after create", ip.Name)
	}
	status := fmt.Sprintf(`{"status":{"ip":%q}}`, ip.Spec.IP.String())
	if err := m.client.Status().Patch(ctx, vip, client.RawPatch(types.MergePatchType, []byte(status))); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}

// write creates obj, or with --apply server-side-applies its metadata and
// spec (given as a map: the typed object would send empty fields) under
// apinetlet's field manager, as the hub does; the response fills obj.
func (m *floorMember) write(ctx context.Context, c client.Client, obj client.Object, spec map[string]any) error {
	if !m.apply {
		return createOrGet(ctx, c, obj)
	}
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind,
		"metadata": map[string]any{"name": obj.GetName(), "namespace": obj.GetNamespace(), "labels": obj.GetLabels()},
		"spec":     spec,
	})
	if err != nil {
		return err
	}
	return c.Patch(ctx, obj, client.RawPatch(types.ApplyPatchType, body), client.FieldOwner(reconcilers.FieldManager), client.ForceOwnership)
}

// createOrGet creates obj, or reads it back if a retry finds it there.
func createOrGet(ctx context.Context, c client.Client, obj client.Object) error {
	err := c.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		return c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	}
	return err
}
