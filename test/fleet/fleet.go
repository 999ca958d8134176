package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Options configures Start.
type Options struct {
	// Clusters to start, in parallel. See Specs for the usual shape.
	Clusters []Spec
	// ServersDir holds the server binaries. Default: DefaultServersDir().
	ServersDir string
	// Dir is the fleet's work folder. Default: a new temporary folder, removed
	// by Stop. A given Dir is kept.
	Dir string
}

// Specs returns the usual fleet shape: a hub, `ironcore` IronCore members
// named ironcore-1.. and `apinet` peers named apinet-1.. with distinct
// public prefixes.
func Specs(ironcore, apinet int) []Spec {
	specs := []Spec{{Name: "hub", Role: RoleHub}}
	for i := 1; i <= ironcore; i++ {
		specs = append(specs, Spec{Name: fmt.Sprintf("ironcore-%d", i), Role: RoleIronCore})
	}
	for i := 1; i <= apinet; i++ {
		specs = append(specs, Spec{Name: fmt.Sprintf("apinet-%d", i), Role: RoleAPINet, PublicPrefixes: DefaultPublicPrefixes(i)})
	}
	return specs
}

// Fleet is a set of running clusters.
type Fleet struct {
	dir, servers string
	ownsDir      bool

	mu       sync.Mutex
	clusters map[string]*Cluster
}

// Start starts every cluster of opts in parallel. On error, whatever started
// is stopped again.
func Start(ctx context.Context, opts Options) (*Fleet, error) {
	f := &Fleet{dir: opts.Dir, servers: opts.ServersDir, clusters: map[string]*Cluster{}}
	if f.servers == "" {
		f.servers = DefaultServersDir()
	}
	if f.dir == "" {
		dir, err := os.MkdirTemp("", "apinet-hub-fleet-")
		if err != nil {
			return nil, err
		}
		f.dir, f.ownsDir = dir, true
	}
	var err error
	if f.dir, err = filepath.Abs(f.dir); err != nil {
		return nil, err
	}
	if f.servers, err = filepath.Abs(f.servers); err != nil {
		return nil, err
	}

	errs := make([]error, len(opts.Clusters))
	var wg sync.WaitGroup
	for i, spec := range opts.Clusters {
		wg.Go(func() { _, errs[i] = f.Add(ctx, spec) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, f.Stop())
	}
	return f, nil
}

// Add starts one more cluster and adds it to the fleet.
func (f *Fleet) Add(ctx context.Context, spec Spec) (*Cluster, error) {
	f.mu.Lock()
	if _, dup := f.clusters[spec.Name]; dup {
		f.mu.Unlock()
		return nil, fmt.Errorf("cluster %q already exists in the fleet", spec.Name)
	}
	f.clusters[spec.Name] = nil // reserve the name
	f.mu.Unlock()

	c, err := startCluster(ctx, f.dir, f.servers, spec)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		delete(f.clusters, spec.Name)
		return nil, err
	}
	f.clusters[spec.Name] = c
	return c, nil
}

// Cluster returns the cluster with that name, or nil.
func (f *Fleet) Cluster(name string) *Cluster {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clusters[name]
}

// Hub returns the first hub cluster, or nil.
func (f *Fleet) Hub() *Cluster {
	if hubs := f.ByRole(RoleHub); len(hubs) > 0 {
		return hubs[0]
	}
	return nil
}

// ByRole returns the clusters of one role, sorted by name.
func (f *Fleet) ByRole(role Role) []*Cluster {
	var out []*Cluster
	for _, c := range f.Clusters() {
		if c.Role == role {
			out = append(out, c)
		}
	}
	return out
}

// Clusters returns every started cluster, sorted by name.
func (f *Fleet) Clusters() []*Cluster {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*Cluster, 0, len(f.clusters))
	for _, c := range f.clusters {
		if c != nil {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Dir is the fleet's work folder.
func (f *Fleet) Dir() string { return f.dir }

// ServersDir is the folder the server binaries are started from.
func (f *Fleet) ServersDir() string { return f.servers }

// Remove stops one cluster for good and forgets it.
func (f *Fleet) Remove(name string) error {
	f.mu.Lock()
	c := f.clusters[name]
	delete(f.clusters, name)
	f.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.teardown()
}

// Stop stops every cluster in parallel, checks that none of their processes
// is left, and removes the work folder if Start created it.
func (f *Fleet) Stop() error {
	clusters := f.Clusters()
	var pids []int
	for _, c := range clusters {
		pids = append(pids, c.pids()...)
	}
	errs := make([]error, len(clusters))
	var wg sync.WaitGroup
	for i, c := range clusters {
		wg.Go(func() { errs[i] = f.Remove(c.Name) })
	}
	wg.Wait()
	for _, pid := range pids {
		if alive(pid) {
			errs = append(errs, fmt.Errorf("server process %d is still running after Stop", pid))
		}
	}
	if f.ownsDir {
		errs = append(errs, os.RemoveAll(f.dir))
	}
	return errors.Join(errs...)
}
