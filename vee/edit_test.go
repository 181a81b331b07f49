package vee

import (
	"slices"
	"testing"
	"time"
)

// series returns contiguous 15-minute intervals from t0 with the given values.
func series(whs ...int64) []Interval {
	s := make([]Interval, len(whs))
	for i, wh := range whs {
		start := t0.Add(time.Duration(i) * q15)
		s[i] = Interval{Start: start, End: start.Add(q15), Wh: wh, OriginalWh: wh}
	}
	return s
}

func TestApplyEdits(t *testing.T) {
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * q15) }
	who := func(e Edit) Edit { e.Reason, e.Author = "customer read", "alice"; return e }
	tests := []struct {
		name      string
		edits     []Edit
		wantWh    []int64
		wantOrig  []int64
		wantEdits []int // index into edits per interval, -1 for none
	}{
		{"single interval, zero end",
			[]Edit{who(Edit{Start: at(1), Wh: 77})},
			[]int64{10, 77, 30, 40}, []int64{10, 20, 30, 40}, []int{-1, 0, -1, -1}},
		{"range, each",
			[]Edit{who(Edit{Start: at(1), End: at(3), Wh: 5})},
			[]int64{10, 5, 5, 40}, []int64{10, 20, 30, 40}, []int{-1, 0, 0, -1}},
		// 10 Wh over 3 intervals: 4, 3, 3.
		{"range, spread",
			[]Edit{who(Edit{Start: at(1), End: at(4), Wh: 10, Mode: EditSpread})},
			[]int64{10, 4, 3, 3}, []int64{10, 20, 30, 40}, []int{-1, 0, 0, 0}},
		// 10 Wh over 4 intervals from at(-1): 3, 3, 2, 2, of which the series holds the last three.
		{"spread range partly before the series",
			[]Edit{who(Edit{Start: at(-1), End: at(3), Wh: 10, Mode: EditSpread})},
			[]int64{3, 2, 2, 40}, []int64{10, 20, 30, 40}, []int{0, 0, 0, -1}},
		{"range past the end is clipped",
			[]Edit{who(Edit{Start: at(3), End: at(9), Wh: 1})},
			[]int64{10, 20, 30, 1}, []int64{10, 20, 30, 40}, []int{-1, -1, -1, 0}},
		{"range outside the series changes nothing",
			[]Edit{who(Edit{Start: at(10), Wh: 1})},
			[]int64{10, 20, 30, 40}, []int64{10, 20, 30, 40}, []int{-1, -1, -1, -1}},
		{"later edit wins, original kept from before the first",
			[]Edit{who(Edit{Start: at(0), End: at(2), Wh: 1}), who(Edit{Start: at(1), Wh: 2})},
			[]int64{1, 2, 30, 40}, []int64{10, 20, 30, 40}, []int{0, 1, -1, -1}},
		{"negative value allowed",
			[]Edit{who(Edit{Start: at(2), Wh: -5})},
			[]int64{10, 20, -5, 40}, []int64{10, 20, 30, 40}, []int{-1, -1, 0, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := series(10, 20, 30, 40)
			if err := ApplyEdits(s, tt.edits); err != nil {
				t.Fatalf("ApplyEdits: %v", err)
			}
			for i, iv := range s {
				if iv.Wh != tt.wantWh[i] || iv.OriginalWh != tt.wantOrig[i] {
					t.Errorf("interval %d: Wh %d, OriginalWh %d; want %d, %d", i, iv.Wh, iv.OriginalWh, tt.wantWh[i], tt.wantOrig[i])
				}
				k := tt.wantEdits[i]
				switch {
				case k < 0 && (iv.Edit != nil || iv.Quality != QualityValid):
					t.Errorf("interval %d: edit %+v, quality %v; want none", i, iv.Edit, iv.Quality)
				case k >= 0 && (iv.Edit == nil || iv.Quality != QualityManuallyEdited ||
					iv.Edit.Wh != tt.edits[k].Wh || !iv.Edit.Start.Equal(tt.edits[k].Start) || iv.Edit.Author != "alice"):
					t.Errorf("interval %d: edit %+v, quality %v; want edit %d and quality 7", i, iv.Edit, iv.Quality, k)
				}
			}
		})
	}
}

func TestApplyEditsNormalizesEnd(t *testing.T) {
	s := series(10, 20)
	e := Edit{Start: t0, Wh: 1, Reason: "r", Author: "a"}
	if err := ApplyEdits(s, []Edit{e}); err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(q15); !s[0].Edit.End.Equal(want) {
		t.Errorf("recorded edit end = %v, want %v", s[0].Edit.End, want)
	}
}

func TestApplyEditsRejects(t *testing.T) {
	ok := Edit{Start: t0, Wh: 1, Reason: "r", Author: "a"}
	tests := []struct {
		name  string
		edits []Edit
		want  []string
	}{
		{"no author", []Edit{ok, {Start: t0, Reason: "r"}}, []string{"edits[1].author: must not be empty"}},
		{"no reason", []Edit{{Start: t0, Author: "a"}}, []string{"edits[0].reason: must not be empty"}},
		{"no start", []Edit{{Reason: "r", Author: "a"}}, []string{"edits[0].start: must be set"}},
		{"end before start", []Edit{{Start: t0, End: t0.Add(-q15), Reason: "r", Author: "a"}},
			[]string{"edits[0].end: must be after start"}},
		{"off grid", []Edit{{Start: t0.Add(time.Minute), End: t0.Add(q15), Reason: "r", Author: "a"}},
			[]string{"edits[0].start: 2025-03-03T00:01:00Z is not on the 15m0s grid of the series"}},
		{"bad mode", []Edit{{Start: t0, Mode: 9, Reason: "r", Author: "a"}}, []string{"edits[0].mode: unknown mode 9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := series(10, 20)
			checkErrors(t, ApplyEdits(s, tt.edits), tt.want)
			if !slices.Equal([]int64{s[0].Wh, s[1].Wh}, []int64{10, 20}) || s[0].Edit != nil {
				t.Errorf("series changed despite the error: %+v", s)
			}
		})
	}
}

func TestApplyEditsRejectsBrokenSeries(t *testing.T) {
	s := series(1, 2, 3)
	s[2].Start = s[2].Start.Add(time.Minute)
	err := ApplyEdits(s, []Edit{{Start: t0, Reason: "r", Author: "a"}})
	checkErrors(t, err, []string{"series[2]: must span [2025-03-03T00:30:00Z, 2025-03-03T00:45:00Z) to continue the series"})
}
