package persona

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"
)

// InputHash is the hash of a call's JSON arguments that action rows carry (SPEC §5.3): the first
// 16 hex characters of their SHA-256. The runner and the demo app both use it, so a row the
// runner writes and the app's log line for the same call carry the same hash.
func InputHash(args []byte) string {
	sum := sha256.Sum256(args)
	return hex.EncodeToString(sum[:8])
}

// MaxEvidence bounds each piece of a call's evidence (its arguments, its result preview) in
// bytes: enough to reproduce a call, small enough that a million rows stay cheap.
const MaxEvidence = 16 << 10

// Redacted replaces the value of a key that looks secret in recorded arguments.
const Redacted = "[redacted]"

// secretKey matches argument names that look like they carry a secret, once lowercased and
// stripped of '_', '-' and '.': token(s), password, passwd, secret, authorization, api key.
var secretKey = regexp.MustCompile(`token|passw(or)?d|secret|authori[sz]ation|apikey|cookie|credential|privatekey`)

// SecretKey reports whether an argument name looks like it carries a secret.
func SecretKey(name string) bool {
	n := strings.ToLower(name)
	n = strings.NewReplacer("_", "", "-", "", ".", "", " ", "").Replace(n)
	return secretKey.MatchString(n)
}

// EvidenceArguments prepares a call's JSON arguments for storage: values under keys that look
// secret (SecretKey), at any depth, become "[redacted]", and arguments longer than MaxEvidence
// are kept as a JSON string holding their first bytes and a note that they were cut, so the
// column always holds valid JSON. Arguments that are not JSON are kept as a JSON string too
// (after the same cut). Empty input stays empty.
func EvidenceArguments(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return cutJSONString(string(raw))
	}
	out, err := json.Marshal(redact(v))
	if err != nil {
		return cutJSONString(string(raw))
	}
	if len(out) > MaxEvidence {
		return cutJSONString(string(out))
	}
	return out
}

func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if SecretKey(k) {
				x[k] = Redacted
				continue
			}
			x[k] = redact(e)
		}
		return x
	case []any:
		for i := range x {
			x[i] = redact(x[i])
		}
		return x
	}
	return v
}

// cutNote ends evidence that was cut at MaxEvidence.
const cutNote = " …(cut at 16 KB)"

// cutJSONString returns s as a JSON string, cut so that its encoding fits MaxEvidence.
func cutJSONString(s string) json.RawMessage {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	b, _ := json.Marshal(s)
	if len(b) <= MaxEvidence {
		return b
	}
	n := min(len(s)-1, MaxEvidence-len(cutNote)-2)
	for {
		n = len(cutAtRune(s, n))
		b, _ = json.Marshal(s[:n] + cutNote)
		if len(b) <= MaxEvidence {
			return b
		}
		// Escapes make the encoding longer than the text: cut by what is over, and again.
		n -= len(b) - MaxEvidence
	}
}

// EvidencePreview cuts a tool result (or error) kept as evidence to at most MaxEvidence bytes,
// never inside a character, marking the cut.
func EvidencePreview(s string) string {
	if len(s) <= MaxEvidence {
		return s
	}
	return cutAtRune(s, MaxEvidence-len(cutNote)) + cutNote
}

// cutAtRune returns s's first n bytes or fewer, never ending inside a character (n < len(s)).
func cutAtRune(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
