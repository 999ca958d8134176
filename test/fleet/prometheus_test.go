package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests start no Prometheus: they check the configuration StartPrometheus
// writes and the decoding of the API's answers (shapes as Prometheus 3.16
// sends them) against a fake.

func TestPrometheusConfig(t *testing.T) {
	data, err := prometheusConfig(PrometheusOptions{
		Targets: []ScrapeTarget{
			{Job: "hub", Address: "127.0.0.1:8443", Scheme: "https", BearerToken: `t"o<k>en`, InsecureSkipVerify: true},
			{Job: "plain", Address: "127.0.0.1:8080"},
		},
		RuleFiles:          []string{"rules.yml"},
		ScrapeInterval:     1500 * time.Millisecond,
		EvaluationInterval: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global        map[string]string `json:"global"`
		RuleFiles     []string          `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			Scheme        string `json:"scheme"`
			Authorization *struct {
				Type, Credentials string
			} `json:"authorization"`
			TLSConfig *struct {
				InsecureSkipVerify bool `json:"insecure_skip_verify"`
			} `json:"tls_config"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("config is not JSON: %v\n%s", err, data)
	}
	want := map[string]string{"scrape_interval": "1500ms", "scrape_timeout": "1500ms", "evaluation_interval": "30s"}
	for k, v := range want {
		if cfg.Global[k] != v {
			t.Errorf("global.%s = %q, want %q", k, cfg.Global[k], v)
		}
	}
	if len(cfg.RuleFiles) != 1 || !filepath.IsAbs(cfg.RuleFiles[0]) || filepath.Base(cfg.RuleFiles[0]) != "rules.yml" {
		t.Errorf("rule_files = %v, want one absolute rules.yml", cfg.RuleFiles)
	}
	if len(cfg.ScrapeConfigs) != 2 {
		t.Fatalf("%d scrape configs, want 2:\n%s", len(cfg.ScrapeConfigs), data)
	}
	hub, plain := cfg.ScrapeConfigs[0], cfg.ScrapeConfigs[1]
	if hub.JobName != "hub" || hub.Scheme != "https" || hub.Authorization == nil || hub.Authorization.Type != "Bearer" ||
		hub.Authorization.Credentials != `t"o<k>en` || hub.TLSConfig == nil || !hub.TLSConfig.InsecureSkipVerify ||
		hub.StaticConfigs[0].Targets[0] != "127.0.0.1:8443" {
		t.Errorf("hub job rendered wrong:\n%s", data)
	}
	if plain.Scheme != "" || plain.Authorization != nil || plain.TLSConfig != nil {
		t.Errorf("plain job has https settings:\n%s", data)
	}
	if strings.Contains(string(data), `\u003c`) {
		t.Errorf("config has HTML escapes:\n%s", data)
	}

	for _, bad := range [][]ScrapeTarget{
		{{Job: "a"}},
		{{Job: "a", Address: "x:1"}, {Job: "a", Address: "x:2"}},
		{{Job: "a", Address: "x:1", Scheme: "ftp"}},
	} {
		if _, err := prometheusConfig(PrometheusOptions{Targets: bad}); err == nil {
			t.Errorf("targets %+v: no error", bad)
		}
	}
	if d, _ := prometheusConfig(PrometheusOptions{ScrapeInterval: time.Minute}); !strings.Contains(string(d), `"scrape_timeout": "10s"`) {
		t.Errorf("scrape_timeout not capped at 10s:\n%s", d)
	}
}

// fakePrometheus serves canned /api/v1 answers by path.
func fakePrometheus(t *testing.T, answers map[string]string) *Prometheus {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/-/reload" {
			if r.Method != http.MethodPost {
				http.Error(w, "method", http.StatusMethodNotAllowed)
				return
			}
			http.Error(w, "failed to reload config: bad rules", http.StatusInternalServerError)
			return
		}
		if r.URL.Path == "/api/v1/query" {
			if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
				http.Error(w, "bad form", http.StatusBadRequest)
				return
			}
			body, ok := answers["query:"+r.PostForm.Get("query")]
			if !ok {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": parse error"}`))
				return
			}
			_, _ = w.Write([]byte(body))
			return
		}
		body, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return &Prometheus{addr: strings.TrimPrefix(srv.URL, "http://"), client: srv.Client()}
}

func TestPrometheusAPI(t *testing.T) {
	ctx := context.Background()
	p := fakePrometheus(t, map[string]string{
		"query:up": `{"status":"success","data":{"resultType":"vector","result":[
			{"metric":{"__name__":"up","instance":"127.0.0.1:8443","job":"hub"},"value":[1762300000.123,"1"]},
			{"metric":{"__name__":"up","instance":"127.0.0.1:8080","job":"plain"},"value":[1762300000.123,"NaN"]}]}}`,
		"query:1+1":    `{"status":"success","data":{"resultType":"scalar","result":[1762300000.123,"2"]}}`,
		"query:up[1m]": `{"status":"success","data":{"resultType":"matrix","result":[]}}`,
		"/api/v1/rules": `{"status":"success","data":{"groups":[{"name":"hub","file":"/tmp/rules.yml","rules":[
			{"state":"firing","name":"HubDown","query":"up{job=\"hub\"} == 0","duration":0,"keepFiringFor":0,"labels":{"severity":"page"},
			 "annotations":{},"alerts":[],"health":"ok","evaluationTime":0.0001,"lastEvaluation":"2026-11-05T10:00:00.5Z","type":"alerting"},
			{"name":"job:up:sum","query":"sum by (job) (up)","health":"err","lastError":"vector contains metrics with the same labelset",
			 "evaluationTime":0.0001,"lastEvaluation":"2026-11-05T10:00:00.5Z","type":"recording"}],
			"interval":1,"limit":0,"evaluationTime":0.0002,"lastEvaluation":"2026-11-05T10:00:00.5Z"}]}}`,
		"/api/v1/alerts": `{"status":"success","data":{"alerts":[{"labels":{"alertname":"HubDown","severity":"page"},
			"annotations":{"summary":"hub down"},"state":"pending","activeAt":"2026-11-05T10:00:00Z","value":"0e+00"}]}}`,
		"/api/v1/targets": `{"status":"success","data":{"activeTargets":[{"discoveredLabels":{},"labels":{"instance":"127.0.0.1:8443","job":"hub"},
			"scrapePool":"hub","scrapeUrl":"https://127.0.0.1:8443/metrics","globalUrl":"https://host:8443/metrics","lastError":"server returned HTTP status 401 Unauthorized",
			"lastScrape":"2026-11-05T10:00:00Z","lastScrapeDuration":0.001,"health":"down","scrapeInterval":"1s","scrapeTimeout":"1s"}],"droppedTargets":[],"droppedTargetCounts":{"hub":0}}}`,
	})

	samples, err := p.Query(ctx, "up")
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2 || samples[0].Labels["job"] != "hub" || samples[0].Value != 1 || !math.IsNaN(samples[1].Value) {
		t.Errorf("Query(up) = %+v", samples)
	}
	if s, err := p.Query(ctx, "1+1"); err != nil || len(s) != 1 || s[0].Value != 2 {
		t.Errorf("Query(1+1) = %+v, %v", s, err)
	}
	if _, err := p.Query(ctx, "up[1m]"); err == nil {
		t.Error("a matrix result is no error")
	}
	_, err = p.Query(ctx, "up{")
	var apiErr *apiError
	if !errors.As(err, &apiErr) || apiErr.ErrorType != "bad_data" || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("Query(up{) error = %v", err)
	}

	groups, err := p.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Name != "hub" || len(groups[0].Rules) != 2 {
		t.Fatalf("Rules = %+v", groups)
	}
	alerting, recording := groups[0].Rules[0], groups[0].Rules[1]
	if alerting.Name != "HubDown" || alerting.Type != "alerting" || alerting.Health != "ok" || alerting.State != "firing" ||
		alerting.Labels["severity"] != "page" || alerting.LastEvaluation.IsZero() {
		t.Errorf("alerting rule = %+v", alerting)
	}
	if recording.Name != "job:up:sum" || recording.Health != "err" || !strings.Contains(recording.LastError, "same labelset") {
		t.Errorf("recording rule = %+v", recording)
	}

	alerts, err := p.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Name != "HubDown" || alerts[0].State != "pending" || alerts[0].Labels["severity"] != "page" ||
		alerts[0].Annotations["summary"] != "hub down" || alerts[0].ActiveAt.IsZero() {
		t.Errorf("Alerts = %+v", alerts)
	}

	targets, err := p.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || targets[0].Job != "hub" || targets[0].Health != "down" || !strings.Contains(targets[0].LastError, "401") {
		t.Errorf("Targets = %+v", targets)
	}

	if err := p.Reload(ctx); err == nil || !strings.Contains(err.Error(), "bad rules") {
		t.Errorf("Reload error = %v, want Prometheus's message", err)
	}
}

func TestPromDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second: "1s", 90 * time.Second: "90s", 1500 * time.Millisecond: "1500ms", 250 * time.Millisecond: "250ms",
	} {
		if got := promDuration(d); got != want {
			t.Errorf("promDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
