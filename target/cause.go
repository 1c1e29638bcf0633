package target

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
)

// Why is what a failed connection to a target comes down to, in one line, for `targets check`
// and the start-up check: DNS, connection refused, TLS, 401/403 with the server's own message,
// a command not found, a missing secret, or the initialize exchange itself. Permanent reports
// whether a retry could fix it (false for a server that is down or slow to answer).
func Why(err error) (line string, permanent bool) {
	var (
		dns     *net.DNSError
		he      *HTTPError
		cert    *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		recHdr  tls.RecordHeaderError
		exitErr *exec.Error
		te      *Error
	)
	switch {
	case errors.As(err, &he):
		return fmt.Sprintf("the server refused the credentials: %v", he), true
	case errors.As(err, &dns):
		return fmt.Sprintf("DNS: cannot resolve %s (%s)", dns.Name, dns.Err), !dns.IsTemporary
	case errors.Is(err, syscall.ECONNREFUSED) && errors.As(err, &te) && te.Stage == StageLogin:
		// The strategy's own server (auth API, token endpoint) is down, not the app.
		return fmt.Sprintf("login: %v", te.Err), false
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing listens at the target's address (is the server running?)", false
	case errors.As(err, &cert), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &recHdr):
		return fmt.Sprintf("TLS: %v", innermost(err)), true
	case errors.As(err, &exitErr) && errors.Is(exitErr.Err, exec.ErrNotFound):
		return fmt.Sprintf("command not found: %s", exitErr.Name), true
	case errors.As(err, &te) && te.Stage == StageSecrets:
		return fmt.Sprintf("credentials: %v", te.Err), true
	case errors.As(err, &te) && te.Stage == StageTarget:
		return te.Err.Error(), true
	case errors.As(err, &te) && (te.Stage == StageLogin || te.Stage == StageSpace):
		return fmt.Sprintf("%s: %v", te.Stage, te.Err), te.Permanent
	}
	msg := err.Error()
	if strings.Contains(msg, "initialize") {
		return fmt.Sprintf("initialize failed: %s", msg), false
	}
	return msg, false
}

// innermost is the deepest wrapped error's text (the TLS library's own words).
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
