package gate

import (
	"fmt"
	"html/template"
	"io"
	"sort"

	"github.com/persona-runner/persona-runner/findings"
)

// bar is one bar of an inline SVG chart.
type bar struct {
	Label string
	Value string
	Y     int
	Width int
	Class string
}

type htmlData struct {
	O        *Outcome
	Verdict  string
	Window   string
	Ratings  []bar
	Limit    int // x of the --min-rating line in the ratings chart (0: none)
	Statuses []bar
	Height   int
	SHeight  int
	Failed   int
}

const chartWidth = 360 // px of a full bar

func ratingBars(o *Outcome, limit float64) ([]bar, int) {
	var out []bar
	for i, m := range o.Modules {
		cls := "ok"
		if limit > 0 && m.Mean < limit {
			cls = "bad"
		}
		out = append(out, bar{Label: m.Module, Value: fmt.Sprintf("%.2f (%d)", m.Mean, m.N), Y: i * 26, Width: int(m.Mean / 5 * chartWidth), Class: cls})
	}
	x := 0
	if limit > 0 {
		x = int(limit / 5 * chartWidth)
	}
	return out, x
}

func statusBars(o *Outcome) []bar {
	count := map[string]int{}
	for _, r := range o.Runs {
		count[r.Status]++
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []bar
	for i, k := range keys {
		cls := "ok"
		switch k {
		case "failed", "timeout", "abandoned":
			cls = "bad"
		case "degraded", "cancelled":
			cls = "warn"
		}
		out = append(out, bar{Label: k, Value: fmt.Sprint(count[k]), Y: i * 26, Width: max(2, count[k]*chartWidth/len(o.Runs)), Class: cls})
	}
	return out
}

var page = template.Must(template.New("check").Funcs(template.FuncMap{
	"when": func(f findings.Finding) string { return when(f) },
	"add":  func(a, b int) int { return a + b },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>persona-runner check: {{.Verdict}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}h1 .v{padding:.1rem .5rem;border-radius:.3rem;color:#fff}.PASSED{background:#1a7f37}.FAILED{background:#cf222e}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
td.n{text-align:right}.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
svg text{font:12px system-ui,sans-serif;fill:#1b1f24}rect.ok{fill:#2da44e}rect.bad{fill:#cf222e}rect.warn{fill:#bf8700}line.limit{stroke:#1b1f24;stroke-dasharray:4 3}
.charts{display:flex;flex-wrap:wrap;gap:2rem}code,pre{font:12px ui-monospace,monospace;background:#f6f8fa;padding:.1rem .3rem;border-radius:.2rem}pre{padding:.5rem;white-space:pre-wrap;word-break:break-word}
details{margin:.4rem 0}summary{cursor:pointer}
</style>
</head>
<body>
<h1>persona-runner check <span class="v {{.Verdict}}">{{.Verdict}}</span></h1>
<p>{{.Window}} — {{len .O.Runs}} runs ({{.Failed}} with failures), {{.O.ToolCalls}} tool calls, {{.O.ToolErrors}} errors, {{len .O.Findings}} open findings.</p>
<h2>Checks</h2>
<table><thead><tr><th>Check</th><th>Result</th><th>Value</th><th>Limit</th><th>Detail</th></tr></thead><tbody>
{{range .O.Checks}}<tr><td>{{.Name}}</td><td class="{{if .Passed}}pass{{else}}fail{{end}}">{{if .Passed}}pass{{else}}fail{{end}}</td><td class="n">{{.Value}}</td><td class="n">{{.Limit}}</td><td>{{.Message}}</td></tr>
{{end}}</tbody></table>
<div class="charts">
<figure><figcaption>Mean rating per module (0–5){{if .Limit}}, dashed line: --min-rating{{end}}</figcaption>
{{if .Ratings}}<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Mean rating per module" width="{{add 560 0}}" height="{{.Height}}" viewBox="0 0 560 {{.Height}}">
{{range .Ratings}}<text x="0" y="{{add .Y 15}}">{{.Label}}</text><rect class="{{.Class}}" x="110" y="{{add .Y 3}}" width="{{.Width}}" height="18"/><text x="{{add .Width 116}}" y="{{add .Y 15}}">{{.Value}}</text>
{{end}}{{if .Limit}}<line class="limit" x1="{{add .Limit 110}}" x2="{{add .Limit 110}}" y1="0" y2="{{.Height}}"/>{{end}}
</svg>{{else}}<p>No ratings in this window.</p>{{end}}</figure>
<figure><figcaption>Runs by status</figcaption>
{{if .Statuses}}<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Runs by status" width="560" height="{{.SHeight}}" viewBox="0 0 560 {{.SHeight}}">
{{range .Statuses}}<text x="0" y="{{add .Y 15}}">{{.Label}}</text><rect class="{{.Class}}" x="110" y="{{add .Y 3}}" width="{{.Width}}" height="18"/><text x="{{add .Width 116}}" y="{{add .Y 15}}">{{.Value}}</text>
{{end}}</svg>{{else}}<p>No runs in this window.</p>{{end}}</figure>
</div>
<h2>Open findings</h2>
{{if not .O.Findings}}<p>No open findings.</p>{{end}}
{{range .O.Findings}}<details><summary><code>{{.ID}}</code> <strong>{{.Severity}}</strong> {{.Kind}}{{if .New}} · new{{end}}{{if .Regression}} · regression{{end}} — {{.Title}}</summary>
<p>{{.Detail}}</p><p>{{when .}} · {{.Occurrences}} occurrence(s) · personas: {{range $i, $p := .Personas}}{{if $i}}, {{end}}{{$p}}{{end}} · versions: {{range $i, $v := .Versions}}{{if $i}}, {{end}}{{$v}}{{end}}</p>
{{range .Notes}}<blockquote>{{.}}</blockquote>{{end}}
{{range .Samples}}{{if .Tool}}<pre>{{.Tool}} {{printf "%s" .Arguments}}{{if .Error}}
→ {{.Error}}{{end}}</pre>{{end}}{{end}}
</details>
{{end}}
<h2>Runs</h2>
<table><thead><tr><th>Persona</th><th>Run</th><th>Status</th><th>Started</th><th>Calls</th><th>Errors</th><th>Failures</th></tr></thead><tbody>
{{range .O.Runs}}<tr><td>{{.Persona}}</td><td><code>{{.TickID}}</code></td><td class="{{if .Failures}}fail{{else}}pass{{end}}">{{.Status}}</td><td>{{.StartedAt.Format "2006-01-02 15:04"}}</td><td class="n">{{.ToolCalls}}</td><td class="n">{{.Errors}}</td><td>{{range .Failures}}<div>{{.}}</div>{{end}}</td></tr>
{{end}}</tbody></table>
</body>
</html>
`))

func when(f findings.Finding) string {
	return fmt.Sprintf("first seen %s, last seen %s", f.FirstSeen.UTC().Format("2006-01-02 15:04"), f.LastSeen.UTC().Format("2006-01-02 15:04"))
}

// writeHTML writes one self-contained page: inline CSS and SVG, no script, no external asset.
func writeHTML(w io.Writer, o *Outcome) error {
	d := htmlData{O: o, Verdict: verdict(o), Window: window(o), Failed: failedRunCount(o)}
	limit := 0.0
	for _, c := range o.Checks {
		if c.Name == "min-rating" {
			fmt.Sscanf(c.Limit, "%g", &limit)
		}
	}
	d.Ratings, d.Limit = ratingBars(o, limit)
	d.Statuses = statusBars(o)
	d.Height = max(26, 26*len(d.Ratings))
	d.SHeight = max(26, 26*len(d.Statuses))
	return page.Execute(w, d)
}
