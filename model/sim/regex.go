package sim

import (
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// fromPattern builds a string matching the JSON Schema pattern (Go RE2 syntax, which is what
// validators in Go use) with a rune count within [minLen, maxLen] (maxLen < 0: no limit). It walks
// the parsed expression and makes one random choice per node, retrying a few times when the length
// bounds are missed. ok is false when the pattern does not parse or no attempt fits.
func fromPattern(r *rand.Rand, pattern string, minLen, maxLen int) (string, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", false
	}
	re = re.Simplify()
	check, err := regexp.Compile(pattern)
	if err != nil {
		return "", false
	}
	for range 20 {
		var b strings.Builder
		genRegex(r, re, &b)
		s := b.String()
		n := utf8.RuneCountInString(s)
		if n >= minLen && (maxLen < 0 || n <= maxLen) && check.MatchString(s) {
			return s, true
		}
	}
	return "", false
}

func genRegex(r *rand.Rand, re *syntax.Regexp, b *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, c := range re.Rune {
			b.WriteRune(c)
		}
	case syntax.OpCharClass:
		b.WriteRune(pickFromClass(r, re.Rune))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteRune(rune('a' + r.IntN(26)))
	case syntax.OpCapture:
		genRegex(r, re.Sub[0], b)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			genRegex(r, sub, b)
		}
	case syntax.OpAlternate:
		genRegex(r, re.Sub[r.IntN(len(re.Sub))], b)
	case syntax.OpStar:
		repeatRegex(r, re.Sub[0], b, 0, 3)
	case syntax.OpPlus:
		repeatRegex(r, re.Sub[0], b, 1, 3)
	case syntax.OpQuest:
		repeatRegex(r, re.Sub[0], b, 0, 1)
	case syntax.OpRepeat:
		hi := re.Max
		if hi < 0 {
			hi = re.Min + 3
		}
		repeatRegex(r, re.Sub[0], b, re.Min, hi)
	default:
		// Anchors, word boundaries and empty matches produce no text.
	}
}

func repeatRegex(r *rand.Rand, re *syntax.Regexp, b *strings.Builder, lo, hi int) {
	n := lo
	if hi > lo {
		n += r.IntN(hi - lo + 1)
	}
	for range n {
		genRegex(r, re, b)
	}
}

// pickFromClass picks a rune from a class given as [lo, hi] pairs. Printable ASCII ranges are
// preferred so that negated classes like [^/] do not produce control characters or surrogates.
func pickFromClass(r *rand.Rand, ranges []rune) rune {
	type span struct{ lo, hi rune }
	var printable, all []span
	for i := 0; i+1 < len(ranges); i += 2 {
		s := span{ranges[i], ranges[i+1]}
		all = append(all, s)
		lo, hi := max(s.lo, 0x21), min(s.hi, 0x7e)
		if lo <= hi {
			printable = append(printable, span{lo, hi})
		}
	}
	pool := printable
	if len(pool) == 0 {
		pool = all
	}
	if len(pool) == 0 {
		return 'x'
	}
	s := pool[r.IntN(len(pool))]
	c := s.lo + rune(r.IntN(int(min(s.hi-s.lo, 0xffff))+1))
	if !utf8.ValidRune(c) {
		return s.lo
	}
	return c
}
