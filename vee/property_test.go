package vee

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// synthetic is a generated meter series with known true energy.
type synthetic struct {
	in      Input
	cum     []int64 // true cumulative energy at each grid point 0..n
	missing []bool  // grid points without a usable reading
}

// genSeries builds n intervals of 15 minutes from t0 with random consumption,
// spikes, zero runs, register rollovers (register max 10^6 Wh), gaps (never at
// the window ends), conflicting duplicates that lose on arrival time, jittered
// timestamps within the snap tolerance, off-grid strays and backwards glitches.
func genSeries(rng *rand.Rand, n int) synthetic {
	const regMax = 1_000_000
	s := synthetic{cum: make([]int64, n+1), missing: make([]bool, n+1)}
	s.cum[0] = 20_000 + rng.Int64N(regMax-20_000)
	if rng.IntN(2) == 0 {
		s.cum[0] = regMax - 1 - rng.Int64N(20_000) // wrap soon
	}
	use := make([]int64, n+1)
	for i := 1; i <= n; i++ {
		use[i] = rng.Int64N(400)
		switch r := rng.IntN(100); {
		case r < 2:
			use[i] = 5_000 + rng.Int64N(15_000) // spike, still below 100 kW
		case r < 6:
			use[i] = 0
		}
	}
	for range rng.IntN(3) { // runs of 4 to 12 zero intervals
		start := 1 + rng.IntN(n)
		for k := start; k < min(start+4+rng.IntN(9), n+1); k++ {
			use[k] = 0
		}
	}
	for i := 1; i <= n; i++ {
		s.cum[i] = s.cum[i-1] + use[i]
	}
	// Gaps of 1 to 30 intervals, never touching the window ends.
	for range rng.IntN(6) {
		start := 1 + rng.IntN(n-1)
		for k := start; k < min(start+1+rng.IntN(30), n); k++ {
			s.missing[k] = true
		}
	}
	reg := func(i int) int64 { return s.cum[i] % regMax }
	var rs []Reading
	for i := 0; i <= n; i++ {
		if s.missing[i] {
			continue
		}
		ts := at(i)
		r := reg(i)
		if i > 0 && i < n && rng.IntN(50) == 0 && r > 11_000 {
			r -= 1 + rng.Int64N(500) // backwards glitch: telescopes away
		}
		jitter := time.Duration(rng.IntN(41)-20) * time.Second
		rs = append(rs, Reading{TS: ts.Add(jitter), RegisterWh: r, Arrival: ts.Add(time.Minute)})
		if rng.IntN(40) == 0 {
			rs = append(rs, Reading{TS: ts, RegisterWh: rng.Int64N(regMax), Arrival: ts.Add(30 * time.Second)})
		}
		if rng.IntN(40) == 0 {
			rs = append(rs, Reading{TS: ts.Add(5 * time.Minute), RegisterWh: rng.Int64N(regMax), Arrival: ts.Add(6 * time.Minute)})
		}
	}
	rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	var hist []HistoryInterval
	for i := -4 * 7 * 96; i < 0; i++ {
		hist = append(hist, HistoryInterval{StartUnix: at(i).Unix(), Wh: rng.Int64N(400)})
	}
	s.in = Input{MeterID: "synthetic", Known: true, Interval: q15, From: t0, To: at(n),
		RegisterMaxWh: regMax, Readings: rs, History: hist}
	return s
}

// TestProcessConservesEnergy is a property test: for random series whose
// registers at both window ends are known and which have no meter
// replacement, the output sums exactly to the true energy, one interval per
// slot, with consistent qualities.
func TestProcessConservesEnergy(t *testing.T) {
	rules := DefaultRuleSet()
	rules.ZeroRun.MinDuration = time.Hour
	seen := map[string]int{} // how many series exercised each rule or quality
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		n := 96 + rng.IntN(3*96)
		s := genSeries(rng, n)
		out, err := Process(s.in, rules, at(n).Add(time.Hour))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(out.Intervals) != n {
			t.Fatalf("seed %d: %d intervals, want %d", seed, len(out.Intervals), n)
		}
		var sum int64
		seenHere := map[string]bool{}
		for i, iv := range out.Intervals {
			sum += iv.Wh
			if !iv.Start.Equal(at(i)) || !iv.End.Equal(at(i+1)) {
				t.Fatalf("seed %d: interval %d spans [%v, %v)", seed, i, iv.Start, iv.End)
			}
			wantEstimated := s.missing[i] || s.missing[i+1]
			if iv.Estimated != wantEstimated {
				t.Fatalf("seed %d: interval %d estimated %v, want %v (flags %+v)", seed, i, iv.Estimated, wantEstimated, iv.Flags)
			}
			switch {
			case iv.Estimated && iv.Quality != QualityEstimatedLinear && iv.Quality != QualityEstimatedReferenceDay:
				t.Fatalf("seed %d: interval %d estimated with quality %v", seed, i, iv.Quality)
			case !iv.Estimated && iv.Questionable() && iv.Quality != QualityQuestionable:
				t.Fatalf("seed %d: interval %d questionable with quality %v", seed, i, iv.Quality)
			case !iv.Estimated && !iv.Questionable() && iv.Quality != QualityValid:
				t.Fatalf("seed %d: interval %d unflagged with quality %v", seed, i, iv.Quality)
			}
			seenHere[iv.Quality.String()] = true
			for _, f := range iv.Flags {
				seenHere[f.Rule] = true
				if f.Rule == RuleReplacement {
					t.Fatalf("seed %d: interval %d: unexpected replacement: %s", seed, i, f.Reason)
				}
			}
		}
		if want := s.cum[n] - s.cum[0]; sum != want {
			t.Fatalf("seed %d: window sums to %d Wh, want %d (register difference, rollover adjusted)", seed, sum, want)
		}
		for k := range seenHere {
			seen[k]++
		}
	}
	// The generator must actually exercise what the property is about.
	for _, k := range []string{RuleRollover, RuleSpike, RuleMissing, RuleNegative, RuleDuplicate, RuleIntervalSize, RuleZeroRun,
		QualityEstimatedLinear.String(), QualityEstimatedReferenceDay.String(), QualityQuestionable.String()} {
		if seen[k] == 0 {
			t.Errorf("no series exercised %q", k)
		}
	}
	t.Logf("series exercising each rule or quality: %v", seen)
}

// TestProcessConservesEnergyPerGap checks conservation gap by gap: every
// run of estimated intervals between two known registers sums to their
// difference, whichever estimation method was used.
func TestProcessConservesEnergyPerGap(t *testing.T) {
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 192
		cum := make([]int64, n+1)
		cum[0] = 100_000
		for i := 1; i <= n; i++ {
			cum[i] = cum[i-1] + rng.Int64N(500)
		}
		var rs []Reading
		for i := 0; i <= n; i++ {
			if i == 0 || i == n || rng.IntN(3) > 0 { // about a third missing
				rs = append(rs, Reading{TS: at(i), RegisterWh: cum[i]})
			}
		}
		in := Input{MeterID: "g", Known: true, Interval: q15, From: t0, To: at(n), Readings: rs}
		for i := -2 * 7 * 96; i < 0; i++ {
			in.History = append(in.History, HistoryInterval{StartUnix: at(i).Unix(), Wh: rng.Int64N(500)})
		}
		rules := quiet()
		rules.Estimation.LinearMaxIntervals = 1
		out, err := Process(in, rules, at(n))
		if err != nil {
			t.Fatal(err)
		}
		for k := 1; k < len(rs); k++ {
			a := int(rs[k-1].TS.Sub(t0) / q15)
			b := int(rs[k].TS.Sub(t0) / q15)
			var sum int64
			for j := a; j < b; j++ {
				sum += out.Intervals[j].Wh
			}
			if want := rs[k].RegisterWh - rs[k-1].RegisterWh; sum != want {
				t.Fatalf("seed %d: [%d, %d) sums to %d, want %d", seed, a, b, sum, want)
			}
		}
	}
}

func BenchmarkProcess(b *testing.B) {
	for _, n := range []int{96, 2976} {
		rng := rand.New(rand.NewPCG(1, 2))
		s := genSeries(rng, n)
		// Storage returns readings ordered by time.
		slices.SortFunc(s.in.Readings, func(a, b Reading) int { return a.TS.Compare(b.TS) })
		rules := DefaultRuleSet()
		now := at(n).Add(time.Hour)
		b.Run(fmt.Sprintf("intervals=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Process(s.in, rules, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
