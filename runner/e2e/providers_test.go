package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/fake"
	"github.com/persona-runner/persona-runner/runner/providers"
)

func TestProviderSelection(t *testing.T) {
	t.Parallel()
	srv := fake.New(t)
	srv.Script(fake.Text("from anthropic"), fake.Text("from openai"))
	for _, tc := range []struct {
		provider, want string
		set            func(*config.Config)
	}{
		{config.ProviderAnthropic, "from anthropic", func(c *config.Config) { c.AnthropicAPIKey, c.AnthropicBaseURL = "k", srv.URL() }},
		{config.ProviderOpenAI, "from openai", func(c *config.Config) { c.OpenAIAPIKey, c.OpenAIBaseURL = "k", srv.OpenAIURL() }},
		{config.ProviderSim, "", func(*config.Config) {}},
	} {
		cfg := config.Default()
		cfg.Provider, cfg.Model = tc.provider, "m-"+tc.provider
		tc.set(&cfg)
		p, err := providers.New(cfg, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.provider, err)
		}
		if p.Name() != tc.provider || p.Model() != "m-"+tc.provider {
			t.Errorf("%s: got %s/%s", tc.provider, p.Name(), p.Model())
		}
		if tc.want == "" {
			continue
		}
		resp, err := p.Complete(context.Background(), model.Request{System: "s", Messages: []model.Message{{Role: model.User, Text: "hi"}}, Phase: model.PhaseMain})
		if err != nil || resp.Text != tc.want {
			t.Errorf("%s: %q %v", tc.provider, resp.Text, err)
		}
	}
	cfg := config.Default()
	cfg.Provider = "gemini"
	if _, err := providers.New(cfg, nil); err == nil {
		t.Error("an unknown provider was accepted")
	}
	cfg = config.Default()
	cfg.Provider, cfg.Env = config.ProviderSim, "production"
	if p, err := providers.New(cfg, nil); err == nil || !strings.Contains(err.Error(), "not allowed in production") {
		t.Errorf("the simulator in production: %v, %v", p, err)
	}
}
