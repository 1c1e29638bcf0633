package persona

import (
	"regexp"
	"strings"
)

// ErrorClass says what kind of failure a failed tool call was (issue 10). It is kept on the
// action row (error_class) and groups findings.
type ErrorClass string

// The classes of a failed call. Empty means not classified (a successful call, or a row written
// before classes existed: ClassifyError can classify its message).
const (
	ClassInvalidInput ErrorClass = "invalid-input" // the app rejected the arguments
	ClassNotFound     ErrorClass = "not-found"     // the arguments named something that is not there
	ClassServerError  ErrorClass = "server-error"  // the app failed on its side
	ClassTimeout      ErrorClass = "timeout"       // no answer in time
	ClassTransport    ErrorClass = "transport"     // the connection failed before the app answered
	ClassAuth         ErrorClass = "auth"          // the app refused the persona's credentials
	ClassRateLimited  ErrorClass = "rate-limited"  // too many calls
)

// ErrorClasses lists the classes in a stable order.
var ErrorClasses = []ErrorClass{ClassInvalidInput, ClassNotFound, ClassServerError, ClassTimeout,
	ClassTransport, ClassAuth, ClassRateLimited}

var classRules = []struct {
	class ErrorClass
	re    *regexp.Regexp
}{
	{ClassTimeout, regexp.MustCompile(`timed? ?out|deadline exceeded|cut off: the run ended`)},
	{ClassRateLimited, regexp.MustCompile(`rate.?limit|too many (requests|calls)|\b429\b|quota exceeded|slow down`)},
	{ClassAuth, regexp.MustCompile(`unauthori[sz]ed|forbidden|\b40[13]\b|invalid (access )?token|token (is )?expired|expired token|not authenticated|authentication|permission denied|access denied`)},
	{ClassTransport, regexp.MustCompile(`^transport:|connection (refused|reset|closed)|broken pipe|\beof\b|no such host|network is unreachable|session not found`)},
	{ClassNotFound, regexp.MustCompile(`not found|no such|does not exist|doesn't exist|unknown (id|record)|\b404\b`)},
	{ClassInvalidInput, regexp.MustCompile(`invalid|must be|required|malformed|validation|expected|unknown tool|bad request|\b400\b|too (long|short|large|small)|not allowed|unsupported`)},
}

// ClassifyError classifies a failed call by its error message (as the runner records it: a
// transport failure starts with "transport: "). Messages no rule knows are server errors: the
// app failed without saying the input was wrong.
func ClassifyError(msg string) ErrorClass {
	m := strings.ToLower(msg)
	for _, r := range classRules {
		if r.re.MatchString(m) {
			return r.class
		}
	}
	return ClassServerError
}

// validErrorClass matches what error_class may hold: lowercase words joined by '-', so that
// other classifiers (infrastructure failures) can add their own.
var validErrorClass = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// Infrastructure reports whether a failed call failed before the app answered: the connection to
// the app (or its acceptance of the persona's credentials) failed, which the runner records with
// class transport, or as "transport: …" before classes existed. Such a row is an outage of the
// infrastructure, not a result of the tool: reports keep it out of tool error rates (issue 13.3).
func (a Action) Infrastructure() bool {
	return a.Result == ResultError && (a.ErrorClass == ClassTransport || strings.HasPrefix(a.ErrorMessage, "transport: "))
}
