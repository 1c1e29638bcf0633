package target

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/persona-runner/persona-runner/persona"
)

// Env is how a target reads the environment at run time (os.Getenv in production).
type Env func(string) string

var placeholder = regexp.MustCompile(`\$\{([^}]*)\}`)

// Expand replaces the placeholders of a configured value (SPEC §10): ${NAME} is the environment
// variable NAME, ${persona.email} and ${persona.id} the persona's, ${persona.secrets.NAME} the
// persona's secret NAME read now from where the catalog says (never stored). An unset
// variable or an unknown secret is an error naming it: a header sent empty would only earn a 401.
func Expand(s string, p persona.DuePersona, getenv Env) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var errs []string
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		key := strings.TrimSpace(m[2 : len(m)-1])
		switch {
		case key == "persona.email":
			return p.Email
		case key == "persona.id":
			return p.UserID
		case strings.HasPrefix(key, "persona.secrets."):
			name := strings.TrimPrefix(key, "persona.secrets.")
			v, err := Secret(p, name, getenv)
			if err != nil {
				errs = append(errs, err.Error())
			}
			return v
		case strings.HasPrefix(key, "persona."):
			errs = append(errs, fmt.Sprintf("unknown placeholder ${%s} (use persona.email, persona.id or persona.secrets.NAME)", key))
			return ""
		case key == "":
			errs = append(errs, "empty placeholder ${}")
			return ""
		}
		v := getenv(key)
		if v == "" {
			errs = append(errs, fmt.Sprintf("environment variable %s is not set", key))
		}
		return v
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// Secret reads the persona's secret name from where its catalog entry says.
func Secret(p persona.DuePersona, name string, getenv Env) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	ref, ok := p.Secrets[name]
	if !ok {
		return "", fmt.Errorf("persona %s has no secret %q (catalog: secrets: {%s: {env: VAR}})", p.Email, name, name)
	}
	switch {
	case ref.Env != "":
		v := getenv(ref.Env)
		if v == "" {
			return "", fmt.Errorf("secret %q of %s: environment variable %s is not set", name, p.Email, ref.Env)
		}
		return v, nil
	case ref.File != "":
		b, err := os.ReadFile(ref.File)
		if err != nil {
			return "", fmt.Errorf("secret %q of %s: %w", name, p.Email, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret %q of %s: file %s is empty", name, p.Email, ref.File)
		}
		return v, nil
	}
	return "", fmt.Errorf("secret %q of %s says neither env nor file", name, p.Email)
}
