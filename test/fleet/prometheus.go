package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The real Prometheus (3.16.0, github.com/prometheus/prometheus v0.316.0)
// and promtool come from hack/install-servers.sh prometheus. They are built
// without the web UI (the module zip has no UI assets): only the HTTP API is
// served, which is all this harness talks to, with encoding/json over
// net/http (the main module does not import Prometheus).

// ScrapeTarget is one static scrape job of a Prometheus started by
// StartPrometheus.
type ScrapeTarget struct {
	// Job is the job_name (and the job label of the scraped series).
	Job string
	// Address is host:port.
	Address string
	// Scheme is "http" (default) or "https".
	Scheme string
	// MetricsPath defaults to /metrics.
	MetricsPath string
	// BearerToken, when set, is sent as "Authorization: Bearer <token>".
	BearerToken string
	// InsecureSkipVerify skips the check of an https target's certificate.
	InsecureSkipVerify bool
	// CAFile verifies an https target's certificate against that CA bundle.
	CAFile string
}

// PrometheusOptions configures StartPrometheus.
type PrometheusOptions struct {
	// ServersDir holds the prometheus binary (hack/install-servers.sh
	// prometheus). Default: DefaultServersDir().
	ServersDir string
	// Dir receives prometheus.yml, the TSDB (data/) and prometheus.log. It is
	// created if missing; required.
	Dir string
	// Targets are scraped as static_configs, one scrape job each.
	Targets []ScrapeTarget
	// RuleFiles are rule files (or globs) to load; relative paths are taken
	// from the working directory.
	RuleFiles []string
	// ScrapeInterval (default 1s) and EvaluationInterval (default 1s) are the
	// global intervals. The scrape timeout is min(ScrapeInterval, 10s).
	ScrapeInterval, EvaluationInterval time.Duration
	// Args are further prometheus flags.
	Args []string
}

// Prometheus is a running Prometheus server on a free loopback port.
type Prometheus struct {
	*process
	addr   string
	dir    string
	opts   PrometheusOptions
	client *http.Client
}

// Promtool returns the path of promtool in serversDir (default:
// DefaultServersDir()).
func Promtool(serversDir string) string {
	if serversDir == "" {
		serversDir = DefaultServersDir()
	}
	return filepath.Join(serversDir, "promtool")
}

// StartPrometheus writes <Dir>/prometheus.yml and runs the real Prometheus
// as a child process that dies with the test process (--web.enable-lifecycle
// for Reload), and waits until /-/ready answers (until ctx ends, or 2 minutes
// when ctx has no deadline). On failure the process is killed and the error
// carries the end of its log.
func StartPrometheus(ctx context.Context, opts PrometheusOptions) (*Prometheus, error) {
	if opts.Dir == "" {
		return nil, errors.New("PrometheusOptions.Dir is required")
	}
	servers := opts.ServersDir
	if servers == "" {
		servers = DefaultServersDir()
	}
	binary := filepath.Join(servers, "prometheus")
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("%s is missing: run hack/install-servers.sh prometheus (make servers): %w", binary, err)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	p := &Prometheus{dir: dir, opts: opts, client: &http.Client{Timeout: 30 * time.Second}}
	if err := p.writeConfig(); err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	p.addr = addr
	log, err := os.OpenFile(p.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	args := append([]string{
		"--config.file=" + p.ConfigPath(),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--web.external-url=http://" + addr + "/",
		"--web.enable-lifecycle",
		// Apply static target groups within a second instead of 5s.
		"--scrape.discovery-reload-interval=1s",
	}, opts.Args...)
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	p.process = watch(cmd)
	if err := p.waitReady(ctx); err != nil {
		_ = p.Kill()
		return nil, fmt.Errorf("prometheus on %s: %w\n%s", addr, err, p.logTail())
	}
	return p, nil
}

func (p *Prometheus) waitReady(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/-/ready", nil)
		if err != nil {
			return err
		}
		resp, err := p.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /-/ready: %s", resp.Status)
		}
		last = err
		select {
		case <-p.done:
			return fmt.Errorf("exited before it was ready: %v", p.exitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// logTail is the end of the log, for error messages.
func (p *Prometheus) logTail() string {
	data, _ := os.ReadFile(p.LogPath())
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	return string(data)
}

// promDuration renders d the way Prometheus parses durations (no fractions).
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// prometheusConfig renders prometheus.yml. It is JSON, which YAML reads as
// is, so that every string is quoted correctly.
func prometheusConfig(opts PrometheusOptions) ([]byte, error) {
	scrape, eval := opts.ScrapeInterval, opts.EvaluationInterval
	if scrape <= 0 {
		scrape = time.Second
	}
	if eval <= 0 {
		eval = time.Second
	}
	type tlsConfig struct {
		CAFile             string `json:"ca_file,omitempty"`
		InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
	}
	type authorization struct {
		Type        string `json:"type"`
		Credentials string `json:"credentials"`
	}
	type staticConfig struct {
		Targets []string `json:"targets"`
	}
	type scrapeConfig struct {
		JobName       string         `json:"job_name"`
		Scheme        string         `json:"scheme,omitempty"`
		MetricsPath   string         `json:"metrics_path,omitempty"`
		FallbackProto string         `json:"fallback_scrape_protocol"`
		Authorization *authorization `json:"authorization,omitempty"`
		TLSConfig     *tlsConfig     `json:"tls_config,omitempty"`
		StaticConfigs []staticConfig `json:"static_configs"`
	}
	cfg := struct {
		Global struct {
			ScrapeInterval     string `json:"scrape_interval"`
			ScrapeTimeout      string `json:"scrape_timeout"`
			EvaluationInterval string `json:"evaluation_interval"`
		} `json:"global"`
		RuleFiles     []string       `json:"rule_files,omitempty"`
		ScrapeConfigs []scrapeConfig `json:"scrape_configs,omitempty"`
	}{}
	cfg.Global.ScrapeInterval = promDuration(scrape)
	cfg.Global.ScrapeTimeout = promDuration(min(scrape, 10*time.Second))
	cfg.Global.EvaluationInterval = promDuration(eval)
	for _, f := range opts.RuleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		cfg.RuleFiles = append(cfg.RuleFiles, abs)
	}
	jobs := map[string]bool{}
	for _, t := range opts.Targets {
		if t.Job == "" || t.Address == "" {
			return nil, fmt.Errorf("scrape target %+v needs a Job and an Address", t)
		}
		if jobs[t.Job] {
			return nil, fmt.Errorf("scrape job %q is given twice", t.Job)
		}
		jobs[t.Job] = true
		switch t.Scheme {
		case "", "http", "https":
		default:
			return nil, fmt.Errorf("scrape job %q: scheme %q is neither http nor https", t.Job, t.Scheme)
		}
		sc := scrapeConfig{
			JobName: t.Job, Scheme: t.Scheme, MetricsPath: t.MetricsPath,
			// Accept a target that sends no (or an odd) Content-Type.
			FallbackProto: "PrometheusText0.0.4",
			StaticConfigs: []staticConfig{{Targets: []string{t.Address}}},
		}
		if t.BearerToken != "" {
			sc.Authorization = &authorization{Type: "Bearer", Credentials: t.BearerToken}
		}
		if t.InsecureSkipVerify || t.CAFile != "" {
			sc.TLSConfig = &tlsConfig{CAFile: t.CAFile, InsecureSkipVerify: t.InsecureSkipVerify}
		}
		cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, sc)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (p *Prometheus) writeConfig() error {
	data, err := prometheusConfig(p.opts)
	if err != nil {
		return err
	}
	return os.WriteFile(p.ConfigPath(), data, 0o600)
}

// URL is the base URL (http://127.0.0.1:port, no trailing slash).
func (p *Prometheus) URL() string { return "http://" + p.addr }

// Addr is the listen address (127.0.0.1:port).
func (p *Prometheus) Addr() string { return p.addr }

// ConfigPath is the prometheus.yml in use.
func (p *Prometheus) ConfigPath() string { return filepath.Join(p.dir, "prometheus.yml") }

// LogPath is the file receiving Prometheus's stdout and stderr.
func (p *Prometheus) LogPath() string { return filepath.Join(p.dir, "prometheus.log") }

// Stop shuts Prometheus down (SIGTERM), waits up to 30s, then kills it. It
// returns the exit error of a process that did not exit cleanly.
func (p *Prometheus) Stop() error { return p.process.Stop(30 * time.Second) }

// SetTargets rewrites prometheus.yml with these scrape targets (rule files
// and intervals unchanged) and reloads it.
func (p *Prometheus) SetTargets(ctx context.Context, targets []ScrapeTarget) error {
	prev := p.opts.Targets
	p.opts.Targets = targets
	if err := p.writeConfig(); err != nil {
		p.opts.Targets = prev
		return err
	}
	return p.Reload(ctx)
}

// Reload makes Prometheus re-read prometheus.yml and the rule files
// (POST /-/reload). A configuration or rule file that does not load is an
// error carrying Prometheus's message; the previous configuration then stays.
func (p *Prometheus) Reload(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL()+"/-/reload", nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /-/reload: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// apiError is a failed /api/v1 call.
type apiError struct {
	Path, Status, ErrorType, Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("prometheus %s: %s: %s: %s", e.Path, e.Status, e.ErrorType, e.Message)
}

// api calls an /api/v1 endpoint (a POST form when form is not nil) and
// decodes the data of a success into out.
func (p *Prometheus) api(ctx context.Context, path string, form url.Values, out any) error {
	var req *http.Request
	var err error
	if form != nil {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, p.URL()+path, strings.NewReader(form.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+path, nil)
	}
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("prometheus %s: %w", path, err)
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("prometheus %s: %s: not an API answer: %.200q", path, resp.Status, body)
	}
	if env.Status != "success" {
		return &apiError{Path: path, Status: resp.Status, ErrorType: env.ErrorType, Message: env.Error}
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("prometheus %s: decode data: %w", path, err)
	}
	return nil
}

// Sample is one series of an instant query's result (a scalar result is one
// Sample without labels).
type Sample struct {
	Labels map[string]string
	Value  float64
}

// sampleValue decodes Prometheus's [<unix seconds>, "<value>"] pair.
func sampleValue(raw json.RawMessage) (float64, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return 0, fmt.Errorf("sample value %s is not a [time, value] pair", raw)
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return 0, fmt.Errorf("sample value %s: %w", raw, err)
	}
	return strconv.ParseFloat(s, 64)
}

// Query evaluates an instant PromQL query now (/api/v1/query). A vector
// gives one Sample per series, a scalar one Sample; other result types (and
// native histogram samples) are errors.
func (p *Prometheus) Query(ctx context.Context, promql string) ([]Sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api(ctx, "/api/v1/query", url.Values{"query": {promql}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "scalar":
		v, err := sampleValue(data.Result)
		if err != nil {
			return nil, err
		}
		return []Sample{{Labels: map[string]string{}, Value: v}}, nil
	case "vector":
		var series []struct {
			Metric    map[string]string `json:"metric"`
			Value     json.RawMessage   `json:"value"`
			Histogram json.RawMessage   `json:"histogram"`
		}
		if err := json.Unmarshal(data.Result, &series); err != nil {
			return nil, fmt.Errorf("query %q: decode vector: %w", promql, err)
		}
		samples := make([]Sample, 0, len(series))
		for _, s := range series {
			if s.Value == nil {
				return nil, fmt.Errorf("query %q: series %v has no float value (a native histogram?)", promql, s.Metric)
			}
			v, err := sampleValue(s.Value)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", promql, err)
			}
			if s.Metric == nil {
				s.Metric = map[string]string{}
			}
			samples = append(samples, Sample{Labels: s.Metric, Value: v})
		}
		return samples, nil
	default:
		return nil, fmt.Errorf("query %q: result type %q is not a vector or scalar", promql, data.ResultType)
	}
}

// RuleGroup is a loaded rule group (/api/v1/rules).
type RuleGroup struct {
	Name string
	// File is the rule file it came from.
	File  string
	Rules []Rule
}

// Rule is one recording or alerting rule of a RuleGroup.
type Rule struct {
	Name string
	// Type is "recording" or "alerting".
	Type  string
	Query string
	// Health is "ok", "err" or "unknown" (not evaluated yet); LastError the
	// error of the last evaluation, if any.
	Health, LastError string
	// State of an alerting rule: "inactive", "pending" or "firing".
	State          string
	Labels         map[string]string
	LastEvaluation time.Time
}

// Rules lists the loaded rule groups.
func (p *Prometheus) Rules(ctx context.Context) ([]RuleGroup, error) {
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			File  string `json:"file"`
			Rules []struct {
				Name           string            `json:"name"`
				Type           string            `json:"type"`
				Query          string            `json:"query"`
				Health         string            `json:"health"`
				LastError      string            `json:"lastError"`
				State          string            `json:"state"`
				Labels         map[string]string `json:"labels"`
				LastEvaluation time.Time         `json:"lastEvaluation"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := p.api(ctx, "/api/v1/rules", nil, &data); err != nil {
		return nil, err
	}
	groups := make([]RuleGroup, 0, len(data.Groups))
	for _, g := range data.Groups {
		rg := RuleGroup{Name: g.Name, File: g.File}
		for _, r := range g.Rules {
			rg.Rules = append(rg.Rules, Rule{
				Name: r.Name, Type: r.Type, Query: r.Query, Health: r.Health, LastError: r.LastError,
				State: r.State, Labels: r.Labels, LastEvaluation: r.LastEvaluation,
			})
		}
		groups = append(groups, rg)
	}
	return groups, nil
}

// Alert is an active (pending or firing) alert (/api/v1/alerts).
type Alert struct {
	// Name is the alertname label.
	Name                string
	Labels, Annotations map[string]string
	// State is "pending" or "firing".
	State string
	// Value is the value of the alert's expression, as Prometheus prints it.
	Value    string
	ActiveAt time.Time
}

// Alerts lists the active alerts.
func (p *Prometheus) Alerts(ctx context.Context) ([]Alert, error) {
	var data struct {
		Alerts []struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
			State       string            `json:"state"`
			ActiveAt    *time.Time        `json:"activeAt"`
			Value       string            `json:"value"`
		} `json:"alerts"`
	}
	if err := p.api(ctx, "/api/v1/alerts", nil, &data); err != nil {
		return nil, err
	}
	alerts := make([]Alert, 0, len(data.Alerts))
	for _, a := range data.Alerts {
		al := Alert{Name: a.Labels["alertname"], Labels: a.Labels, Annotations: a.Annotations, State: a.State, Value: a.Value}
		if a.ActiveAt != nil {
			al.ActiveAt = *a.ActiveAt
		}
		alerts = append(alerts, al)
	}
	return alerts, nil
}

// Target is an active scrape target (/api/v1/targets).
type Target struct {
	Job, ScrapeURL string
	// Health is "up", "down" or "unknown" (not scraped yet); LastError the
	// error of the last scrape.
	Health, LastError string
	LastScrape        time.Time
	Labels            map[string]string
}

// Targets lists the active scrape targets and how their last scrape went.
func (p *Prometheus) Targets(ctx context.Context) ([]Target, error) {
	var data struct {
		ActiveTargets []struct {
			ScrapePool string            `json:"scrapePool"`
			ScrapeURL  string            `json:"scrapeUrl"`
			Health     string            `json:"health"`
			LastError  string            `json:"lastError"`
			LastScrape time.Time         `json:"lastScrape"`
			Labels     map[string]string `json:"labels"`
		} `json:"activeTargets"`
	}
	if err := p.api(ctx, "/api/v1/targets?state=active", nil, &data); err != nil {
		return nil, err
	}
	targets := make([]Target, 0, len(data.ActiveTargets))
	for _, t := range data.ActiveTargets {
		targets = append(targets, Target{
			Job: t.ScrapePool, ScrapeURL: t.ScrapeURL, Health: t.Health, LastError: t.LastError,
			LastScrape: t.LastScrape, Labels: t.Labels,
		})
	}
	return targets, nil
}

// RunPromtool runs promtool from serversDir (default: DefaultServersDir()) with
// args and returns its combined output; a non-zero exit is an error carrying
// that output.
func RunPromtool(ctx context.Context, serversDir string, args ...string) (string, error) {
	bin := Promtool(serversDir)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s is missing: run hack/install-servers.sh prometheus (make servers): %w", bin, err)
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("promtool %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
