package app

// seatChart is the geometry of the status page's seat chart: one
// horizontal stacked bar per account type (active, inactive, archived),
// scaled to the largest total, drawn as inline SVG by the template.
type seatChart struct {
	Width, Height int
	Bars          []seatBar
}

type seatBar struct {
	Label         string
	Y, TextY      int
	Segments      []seatSegment
	TotalX, Total int
}

type seatSegment struct {
	Class               string // active, inactive, archived
	X, Y, Width, Height int
	Count               int
}

// Chart layout, in SVG user units.
const (
	chartLabelWidth = 150
	chartBarsWidth  = 420
	chartBarHeight  = 18
	chartGap        = 8
)

func newSeatChart(rows []seatRow) seatChart {
	c := seatChart{Width: chartLabelWidth + chartBarsWidth + 60, Height: len(rows)*(chartBarHeight+chartGap) + chartGap}
	most := 0
	for _, r := range rows {
		most = max(most, r.Total)
	}
	for i, r := range rows {
		y := chartGap + i*(chartBarHeight+chartGap)
		b := seatBar{Label: r.AccountType, Y: y, TextY: y + chartBarHeight - 5, Total: r.Total}
		x := chartLabelWidth
		for _, s := range []struct {
			class string
			n     int
		}{{"active", r.Active}, {"inactive", r.Inactive}, {"archived", r.Archived}} {
			if s.n == 0 || most == 0 {
				continue
			}
			w := max(1, s.n*chartBarsWidth/most)
			b.Segments = append(b.Segments, seatSegment{Class: s.class, X: x, Y: y, Width: w, Height: chartBarHeight, Count: s.n})
			x += w
		}
		b.TotalX = x + 6
		c.Bars = append(c.Bars, b)
	}
	return c
}
