package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// Charts are SVG drawn here, on the server: no script, no library, readable without colour
// (each series has its own pattern and the legend and tables name them), and each with a title
// and a description for screen readers. Fills come from CSS classes, so the page's content
// policy needs no inline style.

// series is one stacked part of a bar chart.
type series struct {
	Name    string
	Class   string // CSS class of its fill (s-ok, s-failed, …)
	Pattern string // "" solid, "hatch" or "dots": the second signal besides colour
}

// barChart is a bar chart of one or more stacked series over labelled slots (days).
type barChart struct {
	ID     string // unique in the page (prefixes the pattern ids)
	Title  string
	Desc   string
	Labels []string    // one per slot, shown under the first, middle and last bar
	Series []series    // bottom to top
	Values [][]float64 // [series][slot]
	Format func(float64) string
	Width  int // of the view box; 0 means chartW (a small chart is drawn narrower, so its text stays readable)
}

const (
	defaultChartW     = 640
	chartH            = 180
	padL, padR, padB  = 44, 8, 22
	padT              = 8
	sparkW, sparkH    = 120, 28
	sparkMin, sparkMx = 1.0, 5.0
)

func (c barChart) SVG() template.HTML {
	n := len(c.Labels)
	chartW := c.Width
	if chartW == 0 {
		chartW = defaultChartW
	}
	format := c.Format
	if format == nil {
		format = func(v float64) string { return fmt.Sprintf("%.0f", v) }
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" preserveAspectRatio="none">`, chartW, chartH, c.ID, c.ID)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, c.ID, esc(c.Title), c.ID, esc(c.Desc))
	b.WriteString(`<defs>`)
	fmt.Fprintf(&b, `<pattern id="%s-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" class="pat-bg"/><line x1="0" y1="0" x2="0" y2="6" class="pat-line" stroke-width="3"/></pattern>`, c.ID)
	fmt.Fprintf(&b, `<pattern id="%s-dots" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" class="pat-bg"/><circle cx="3" cy="3" r="1.6" class="pat-dot"/></pattern>`, c.ID)
	b.WriteString(`</defs>`)
	maxV := 0.0
	for i := 0; i < n; i++ {
		sum := 0.0
		for s := range c.Series {
			sum += c.Values[s][i]
		}
		maxV = math.Max(maxV, sum)
	}
	plotW, plotH := float64(chartW-padL-padR), float64(chartH-padT-padB)
	// Axis: zero and the maximum.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, padL, chartH-padB, chartW-padR, chartH-padB)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="tick" text-anchor="end">%s</text>`, padL-4, padT+8, esc(format(maxV)))
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="tick" text-anchor="end">0</text>`, padL-4, chartH-padB)
	if n == 0 || maxV == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="empty" text-anchor="middle">no data in this window</text>`, chartW/2, chartH/2)
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	slot := plotW / float64(n)
	bw := math.Max(1, slot*0.75)
	for i := 0; i < n; i++ {
		x := float64(padL) + float64(i)*slot + (slot-bw)/2
		y := float64(chartH - padB)
		for s, ser := range c.Series {
			v := c.Values[s][i]
			if v <= 0 {
				continue
			}
			h := v / maxV * plotH
			y -= h
			// A CSS fill would win over the pattern, so a patterned series gets only an outline
			// class (p-…) and its pattern as the fill attribute.
			attrs := fmt.Sprintf(`class="%s"`, ser.Class)
			if ser.Pattern != "" {
				attrs = fmt.Sprintf(`class="p-%s" fill="url(#%s-%s)"`, strings.TrimPrefix(ser.Class, "s-"), c.ID, ser.Pattern)
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" %s><title>%s: %s %s</title></rect>`,
				x, y, bw, h, attrs, esc(c.Labels[i]), esc(format(v)), esc(ser.Name))
		}
	}
	for _, i := range labelSlots(n) {
		x := float64(padL) + (float64(i)+0.5)*slot
		anchor := "middle"
		if i == 0 && n > 1 {
			anchor = "start"
			x = float64(padL)
		} else if i == n-1 && n > 1 {
			anchor = "end"
			x = float64(chartW - padR)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="tick" text-anchor="%s">%s</text>`, x, chartH-6, anchor, esc(c.Labels[i]))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// labelSlots picks the slots that get an x label: first, middle and last.
func labelSlots(n int) []int {
	switch {
	case n == 0:
		return nil
	case n == 1:
		return []int{0}
	case n == 2:
		return []int{0, 1}
	}
	return []int{0, n / 2, n - 1}
}

// sparkline draws ratings (1–5) over weeks; nil points are weeks without ratings.
func sparkline(id, title string, points []*float64) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, sparkW, sparkH, sparkW, sparkH, esc(title))
	n := len(points)
	if n == 0 {
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	step := float64(sparkW-6) / math.Max(1, float64(n-1))
	y := func(v float64) float64 {
		return 3 + (sparkMx-v)/(sparkMx-sparkMin)*float64(sparkH-6)
	}
	// Guide at rating 3.
	fmt.Fprintf(&b, `<line x1="0" y1="%.1f" x2="%d" y2="%.1f" class="guide"/>`, y(3), sparkW, y(3))
	// One line through the weeks that have ratings (a week without any is skipped over), with
	// a dot on each.
	var pts []string
	for i, p := range points {
		if p == nil {
			continue
		}
		x := 3 + float64(i)*step
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y(*p)))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" class="dot"/>`, x, y(*p))
	}
	if len(pts) > 1 {
		fmt.Fprintf(&b, `<polyline points="%s" class="line"/>`, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// hbars draws labelled horizontal bars (a rating distribution), with the count written beside
// each bar.
func hbars(id, title string, labels []string, values []int) template.HTML {
	const w, rowH = 320, 20
	h := rowH * len(values)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="hbars" viewBox="0 0 %d %d" role="img" aria-label="%s">`, w, h, esc(title))
	maxV := 0
	for _, v := range values {
		maxV = max(maxV, v)
	}
	for i, v := range values {
		y := i * rowH
		fmt.Fprintf(&b, `<text x="0" y="%d" class="tick">%s</text>`, y+14, esc(labels[i]))
		bw := 0.0
		if maxV > 0 {
			bw = float64(v) / float64(maxV) * float64(w-90)
		}
		fmt.Fprintf(&b, `<rect x="40" y="%d" width="%.1f" height="%d" class="s-bar"/>`, y+3, bw, rowH-6)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="tick">%d</text>`, 44+bw, y+14, v)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func esc(s string) string { return html.EscapeString(s) }
