package findings

import (
	"regexp"
	"strings"
)

var masks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?`), "<time>"},
	{regexp.MustCompile(`\b\d{1,2}:\d{2}(:\d{2})?\b`), "<time>"},
	{regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), "<id>"},
	{regexp.MustCompile(`"(?:[^"\\]|\\.)*"|“[^”]*”|'[^'\s][^']*'`), `"…"`},
	{regexp.MustCompile(`(?i)\b(?:[a-z]+[-_])?[0-9a-f]*\d[0-9a-f]*[a-f][0-9a-f]*\b|\b[0-9a-f]*[a-f][0-9a-f]*\d[0-9a-f]*\b`), "<id>"},
	{regexp.MustCompile(`\d+(\.\d+)?(ms|s|m|h)?\b`), "<n>"},
}

// Signature is an error message with what varies between occurrences masked: timestamps, ids,
// quoted values and numbers, so that "todo 7f3e9a not found" and "todo 81bc2d not found" are the
// same problem. Whitespace is collapsed; the result is at most 200 characters.
func Signature(msg string) string {
	s := strings.Join(strings.Fields(msg), " ")
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.with)
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200])
	}
	return s
}
