package bench

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// RenderPlot writes a PNG plot of rep's sweeps: recall@K on the x axis,
// single-thread QPS on a log-scale y axis, one line per run. Runs without a
// positive QPS point are left out; with none at all it returns an error
// wrapping ErrInvalidConfig.
func RenderPlot(w io.Writer, rep *Report) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: recall@%d vs QPS (1 thread)", rep.Data.Name, rep.Data.K)
	p.X.Label.Text = fmt.Sprintf("recall@%d", rep.Data.K)
	p.Y.Label.Text = "queries per second (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = false
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = vg.Points(8)
	p.Add(plotter.NewGrid())
	lines := 0
	minR := 1.0
	for i, run := range rep.Runs {
		var xys plotter.XYs
		for _, pt := range run.Points {
			if pt.QPS > 0 && !math.IsInf(pt.QPS, 0) && !math.IsNaN(pt.Recall) {
				xys = append(xys, plotter.XY{X: pt.Recall, Y: pt.QPS})
				minR = min(minR, pt.Recall)
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("cannot plot %s: %w", run.Name, err)
		}
		c := plotutil.Color(i)
		if run.Engine == EngineHNSWLib {
			c = color.Black
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		l.Color, s.Color = c, c
		l.Width = vg.Points(1.5)
		s.Shape = plotutil.Shape(i)
		s.Radius = vg.Points(2.5)
		p.Add(l, s)
		p.Legend.Add(run.Name, legendThumb{l, s})
		lines++
	}
	if lines == 0 {
		return fmt.Errorf("cannot plot %s: %w: no sweep points", rep.Data.Name, ErrInvalidConfig)
	}
	p.X.Min = math.Max(0, math.Floor(minR*20)/20)
	p.X.Max = 1
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("cannot plot %s: %w", rep.Data.Name, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return fmt.Errorf("cannot plot %s: %w", rep.Data.Name, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("cannot write plot: %w", err)
	}
	return nil
}

// legendThumb draws a line and its point shape in the legend.
type legendThumb struct {
	l *plotter.Line
	s *plotter.Scatter
}

func (t legendThumb) Thumbnail(c *draw.Canvas) {
	t.l.Thumbnail(c)
	t.s.Thumbnail(c)
}
