// Package providers builds the model provider the configuration names. It lives apart from
// package runner so that the runner's own tests do not compile the Anthropic and OpenAI SDKs.
package providers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/anthropic"
	"github.com/persona-runner/persona-runner/model/openai"
	"github.com/persona-runner/persona-runner/model/sim"
)

// New returns the provider of cfg.Provider: anthropic (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL),
// openai (OPENAI_API_KEY, OPENAI_BASE_URL: OpenAI or any compatible server such as Ollama, vLLM,
// llama.cpp or OpenRouter) or sim (the offline simulator, seeded with cfg.SimSeed; refused in
// production). hc nil means
// each adapter's pooled default client.
func New(cfg config.Config, hc *http.Client) (model.Provider, error) {
	switch cfg.Provider {
	case config.ProviderAnthropic:
		p, err := anthropic.New(anthropic.Config{
			APIKey: cfg.AnthropicAPIKey.Value(), Model: cfg.Model, BaseURL: cfg.AnthropicBaseURL,
			MaxTokens: cfg.MaxTokens, HTTPClient: hc,
		})
		if err != nil {
			return nil, fmt.Errorf("anthropic provider: %w", err)
		}
		return p, nil
	case config.ProviderOpenAI:
		p, err := openai.New(openai.Config{
			APIKey: cfg.OpenAIAPIKey.Value(), Model: cfg.Model, BaseURL: cfg.OpenAIBaseURL,
			MaxTokens: cfg.MaxTokens, HTTPClient: hc,
		})
		if err != nil {
			return nil, fmt.Errorf("openai provider: %w", err)
		}
		return p, nil
	case config.ProviderSim:
		if cfg.Production() {
			// Config validation refuses it too; a config built by hand must not slip through.
			return nil, errors.New("MODEL_PROVIDER=sim (the offline simulator) is not allowed in production")
		}
		return sim.New(cfg.SimSeed, sim.WithModel(cfg.Model)), nil
	}
	return nil, fmt.Errorf("MODEL_PROVIDER must be one of anthropic, openai, sim (got %q)", cfg.Provider)
}
