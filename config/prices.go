package config

import (
	"math"
	"strings"
)

// Price is what a model costs in US dollars per million tokens.
type Price struct {
	Input       float64 `yaml:"input" json:"input"`
	Output      float64 `yaml:"output" json:"output"`
	CachedInput float64 `yaml:"cachedInput" json:"cachedInput"`
}

// DefaultPrices are list prices in USD per million tokens at the time of writing; a YAML file can
// change or extend them. Keys are prefixes: "claude-sonnet-4" prices every Sonnet 4.x model.
func DefaultPrices() map[string]Price {
	return map[string]Price{
		"claude-opus-4":     {Input: 15, Output: 75, CachedInput: 1.5},
		"claude-opus-4-5":   {Input: 5, Output: 25, CachedInput: 0.5},
		"claude-sonnet-4":   {Input: 3, Output: 15, CachedInput: 0.3},
		"claude-3-7-sonnet": {Input: 3, Output: 15, CachedInput: 0.3},
		"claude-3-5-haiku":  {Input: 0.8, Output: 4, CachedInput: 0.08},
		"claude-haiku-4":    {Input: 1, Output: 5, CachedInput: 0.1},
		"gpt-4o-mini":       {Input: 0.15, Output: 0.6, CachedInput: 0.075},
		"gpt-4o":            {Input: 2.5, Output: 10, CachedInput: 1.25},
		"gpt-4.1-nano":      {Input: 0.1, Output: 0.4, CachedInput: 0.025},
		"gpt-4.1-mini":      {Input: 0.4, Output: 1.6, CachedInput: 0.1},
		"gpt-4.1":           {Input: 2, Output: 8, CachedInput: 0.5},
		"gpt-5-mini":        {Input: 0.25, Output: 2, CachedInput: 0.025},
		"gpt-5":             {Input: 1.25, Output: 10, CachedInput: 0.125},
		"persona-sim":       {},
	}
}

// PriceOf returns the price of model: an exact key, else the longest key that is a prefix of
// the model name. ok is false when the table has no entry (the cost is then 0).
func (c Config) PriceOf(model string) (p Price, ok bool) {
	if p, ok := c.Prices[model]; ok {
		return p, true
	}
	best := -1
	for k, v := range c.Prices {
		if strings.HasPrefix(model, k) && len(k) > best {
			best, p, ok = len(k), v, true
		}
	}
	return p, ok
}

// Cost estimates the US dollars of a run's tokens. cached counts input tokens served from a
// prompt cache and is part of input.
func (c Config) Cost(model string, input, output, cached int64) float64 {
	p, ok := c.PriceOf(model)
	if !ok {
		return 0
	}
	uncached := input - cached
	if uncached < 0 {
		uncached = 0
	}
	usd := (float64(uncached)*p.Input + float64(cached)*p.CachedInput + float64(output)*p.Output) / 1e6
	return math.Round(usd*1e6) / 1e6
}
