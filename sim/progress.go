package sim

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// Progress draws a one-line progress bar, at most five times a second. A nil writer draws
// nothing. Set may be called from any goroutine; Done from the one that created it.
type Progress struct {
	w     io.Writer
	label string
	total int64
	done  atomic.Int64
	start time.Time
	stop  chan struct{}
	ended chan struct{}
}

// NewProgress starts a bar counting to total.
func NewProgress(w io.Writer, label string, total int64) *Progress {
	p := &Progress{w: w, label: label, total: total, start: time.Now(), stop: make(chan struct{}), ended: make(chan struct{})}
	if w == nil {
		close(p.ended)
		return p
	}
	go func() {
		defer close(p.ended)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.draw()
				fmt.Fprintln(p.w)
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

// Set records how far the work has come.
func (p *Progress) Set(n int64) { p.done.Store(n) }

// Done draws the final state and ends the bar.
func (p *Progress) Done() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.ended
}

func (p *Progress) draw() {
	const width = 30
	n := p.done.Load()
	frac := 0.0
	if p.total > 0 {
		frac = min(1, float64(n)/float64(p.total))
	}
	filled := int(frac * width)
	elapsed := time.Since(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(n) / elapsed
	}
	fmt.Fprintf(p.w, "\r%s [%s%s] %5.1f%% %d/%d %.0f/s", p.label,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), 100*frac, n, p.total, rate)
}
