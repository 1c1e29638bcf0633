package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/persona-runner/persona-runner/config"
	"github.com/persona-runner/persona-runner/target"
	"github.com/persona-runner/persona-runner/target/strategy"
)

// buildTargets builds the configured targets (the demo app as target demo when none is).
func buildTargets(cfg config.Config, getenv func(string) string, log *slog.Logger) (*target.Set, error) {
	return strategy.Set(cfg.TargetConfigs(), strategy.Options{
		AuthURL:       cfg.AuthURL,
		SeedSecret:    cfg.SeedSecret.Value(),
		Getenv:        getenv,
		HTTPClient:    &http.Client{Timeout: 2 * time.Minute},
		ClientVersion: version,
		Logger:        log,
	})
}
