package authapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/persona-runner/persona-runner/httpjson"
	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/report"
)

// PathAdminReport serves the operator report (our extension): GET with the query parameters
// since (e.g. 7d, default 7d), persona (email or id) and module; answers the report's JSON form.
const PathAdminReport = "/api/v1/admin/report"

// handleAdminReport builds the report of `persona-runner report` from the store, so an operator
// can read it from a remote auth service.
func (s *Server) handleAdminReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var es persona.FieldErrors
	for _, k := range []string{"since", "persona", "module"} {
		es.Text(k, q.Get(k))
	}
	if err := es.Err(); err != nil {
		writeValidation(w, detailsOf(err))
		return
	}
	since := q.Get("since")
	if since == "" {
		since = "7d"
	}
	d, err := report.ParseSince(since)
	if err != nil {
		writeValidation(w, []FieldDetail{{Field: "since", Message: err.Error()}})
		return
	}
	rep, err := report.Build(r.Context(), s.store, report.Options{Now: s.now(), Since: d,
		Persona: q.Get("persona"), Module: q.Get("module"), Offered: s.reportTools})
	if errors.Is(err, persona.ErrNotFound) {
		writeError(w, http.StatusNotFound, msgPersonaNotFound, err.Error())
		return
	}
	if err != nil {
		s.writeStoreError(w, r, "build report", err)
		return
	}
	httpjson.Write(w, http.StatusOK, rep)
}

// Report fetches the operator report (admin): since is a window such as "7d"; persona and module
// filter when not empty.
func (c *Client) Report(ctx context.Context, since, personaKey, module string) (*report.Report, error) {
	v := url.Values{}
	v.Set("since", since)
	if personaKey != "" {
		v.Set("persona", personaKey)
	}
	if module != "" {
		v.Set("module", module)
	}
	var out report.Report
	if err := c.do(ctx, http.MethodGet, PathAdminReport+"?"+v.Encode(), c.adminAuth(), nil, &out); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return &out, nil
}
