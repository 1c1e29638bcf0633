package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/persona-runner/persona-runner/config"
)

// readSharedConfig reads the YAML configuration file of --config for serve auth and serve mcp.
// It is the runner's file (config.Config, unknown fields refused), so one file can configure
// every component; each component takes only the fields that concern it, and the environment
// and flags override them. The runner's own checks (provider keys, …) are not applied here.
// An empty path is an empty configuration.
func readSharedConfig(path string) (config.Config, error) {
	if path == "" {
		return config.Config{}, nil
	}
	c, err := config.ReadFile(path)
	if err != nil {
		return config.Config{}, usageError{fmt.Errorf("--config: %w", err)}
	}
	return c, nil
}

// withFileDB returns f, or f naming the file's store when neither --db, --data nor DATABASE_URL
// names one (flags > environment > file > the default).
func withFileDB(f StoreFlags, file config.Config, getenv func(string) string) StoreFlags {
	if strings.TrimSpace(f.DB) == "" && strings.TrimSpace(f.Data) == "" &&
		strings.TrimSpace(getenv("DATABASE_URL")) == "" && file.DB != "" {
		f.DB = file.DB.Value()
	}
	return f
}

// firstSet takes (name, value) pairs in order of precedence and returns the first pair whose
// value is not blank (trimmed), so that an error can say where a bad value came from.
func firstSet(pairs ...string) (name, value string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if v := strings.TrimSpace(pairs[i+1]); v != "" {
			return pairs[i], v
		}
	}
	return "", ""
}

// checkHTTPURL refuses anything but an absolute http(s) URL, naming the flag.
func checkHTTPURL(flag, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Errorf("%s must be an http(s) URL (got %q)", flag, v)}
	}
	return nil
}
