package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestServeRunnerHealthAndStop(t *testing.T) {
	t.Parallel()
	// serve runner starts only once its auth API answers (issue 13.14).
	authURL, _, _ := startServeAuth(t, map[string]string{"MANA_SERVICE_KEY": testServiceKey}, "--data", t.TempDir(), "--addr", "127.0.0.1:0")
	env := map[string]string{"RUNNER_PAUSED": "true", "MANA_SERVICE_KEY": testServiceKey, "MANA_AUTH_URL": authURL, "MODEL_PROVIDER": "sim"}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		code := Run(ctx, []string{"serve", "runner", "--addr", "127.0.0.1:0", "--interval", "1h"}, pw, logs, testEnv(env))
		pw.Close()
		done <- code
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("serve runner did not start: %v; stderr:\n%s", err, logs.String())
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(line)
	if m == nil {
		cancel()
		t.Fatalf("unexpected first line %q", line)
	}
	resp, err := http.Get(m[1] + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h["status"] != "ok" || h["paused"] != true || h["tickIntervalMs"] != float64(3600000) {
		t.Errorf("health: %v", h)
	}
	req, _ := http.NewRequest(http.MethodPost, m[1]+"/control/resume", nil)
	req.Header.Set("X-Service-Key", testServiceKey)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("resume: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit status %d; stderr:\n%s", code, logs.String())
	}
}

func TestServeRunnerRefusesBadConfig(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	env := map[string]string{"APP_ENV": "production", "PERSONA_CONCURRENCY": "zero"}
	code := Run(context.Background(), []string{"serve", "runner", "--addr", "127.0.0.1:0"}, io.Discard, &stderr, testEnv(env))
	if code != 2 {
		t.Fatal("serve runner started with a bad production config")
	}
	for _, want := range []string{"PERSONA_CONCURRENCY", "MANA_SERVICE_KEY", "ANTHROPIC_API_KEY", "PERSONA_SEED_SECRET"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("message does not name %s:\n%s", want, stderr.String())
		}
	}
}

// TestServeRunnerFileProductionStays: "env: production" in the --config file is production even
// when APP_ENV or NODE_ENV says something else, as serve auth reads the same file: one file
// must not put serve auth in production and leave the runner beside it in development (/diag
// on, the development seed secret and the simulator accepted).
func TestServeRunnerFileProductionStays(t *testing.T) {
	t.Parallel()
	file := writeFile(t, t.TempDir(), "runner.yaml", "env: production\nprovider: sim\n")
	for _, env := range []map[string]string{{"APP_ENV": "development"}, {"NODE_ENV": "development"}} {
		code, _, errOut := runStopped(t, env, "serve", "runner", "--addr", "127.0.0.1:0", "--config", file)
		for _, want := range []string{"MANA_SERVICE_KEY is required in production", "MODEL_PROVIDER=sim", "PERSONA_SEED_SECRET"} {
			if code != 2 || !strings.Contains(errOut, want) {
				t.Errorf("%v with env: production in the file: exit %d, stderr %q; want 2 and %q", env, code, errOut, want)
			}
		}
	}
}

// TestServeRunnerRefusesShortKeyInProduction: the service key guards the runner's control
// endpoints and the auth API's internal routes; in production the runner asks what serve auth
// asks of it, at least 32 bytes, and names the variable.
func TestServeRunnerRefusesShortKeyInProduction(t *testing.T) {
	t.Parallel()
	env := map[string]string{"APP_ENV": "production", "MANA_SERVICE_KEY": "svc-key-0123456789",
		"PERSONA_SEED_SECRET": "a-production-secret", "ANTHROPIC_API_KEY": "sk-ant-0123456789"}
	code, _, errOut := runStopped(t, env, "serve", "runner", "--addr", "127.0.0.1:0")
	if want := "MANA_SERVICE_KEY must be at least 32 bytes in production (it has 18)"; code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("short key in production: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
}

func TestConfigCommandMasksSecrets(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	vars := map[string]string{"MANA_SERVICE_KEY": "svc-secret-value-4321", "ANTHROPIC_API_KEY": "sk-ant-secret-value-8765"}
	env := &Env{Ctx: context.Background(), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
	cmd := &ConfigCmd{RunnerFlags: RunnerFlags{Concurrency: ptr(7)}}
	if err := cmd.Run(env); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	out := stdout.String()
	if strings.Contains(out, "secret-value") {
		t.Errorf("secret printed:\n%s", out)
	}
	for _, want := range []string{`serviceKey: "****4321"`, "concurrency: 7", "provider: anthropic"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestServeRunnerData: serve runner takes --data DIR like every command that reads the store
// (SPEC §8) and then writes to DIR/persona-runner.db directly.
func TestServeRunnerData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"RUNNER_PAUSED": "true", "MODEL_PROVIDER": "sim"}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		code := Run(ctx, []string{"serve", "runner", "--addr", "127.0.0.1:0", "--data", dir}, pw, logs, testEnv(env))
		pw.Close()
		done <- code
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	cancel()
	code := <-done
	if err != nil || !strings.Contains(line, "listening on") {
		t.Fatalf("serve runner --data did not start: %q %v (exit %d); stderr:\n%s", line, err, code, logs.String())
	}
	if code != 0 {
		t.Errorf("exit status %d; stderr:\n%s", code, logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "persona-runner.db")); err != nil {
		t.Errorf("the store under --data was not opened: %v", err)
	}
	if code, _, errOut := run(t, nil, "serve", "runner", "--data", dir, "--db", filepath.Join(dir, "x.db")); code != 2 || !strings.Contains(errOut, "--data") {
		t.Errorf("--data with --db: exit %d, stderr %q", code, errOut)
	}
}
