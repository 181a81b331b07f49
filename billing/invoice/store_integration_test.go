package invoice

import (
	"context"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/internal/testenv"
)

// TestStoreRerun issues a bill, then runs the period again three times as a billing run
// would (read what was issued, Decide, write): unchanged data writes nothing, corrected
// data writes one adjustment referencing the bill, and a repeat of the corrected run (a
// run killed after writing) writes nothing more. Amounts come back exact.
func TestStoreRerun(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	s, err := NewStore(conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func(b Bill, at time.Time) *Invoice {
		t.Helper()
		issued, err := s.Period(ctx, b.AgreementID, b.From, b.To)
		if err != nil {
			t.Fatal(err)
		}
		in, err := Decide(b, issued, at)
		if err != nil {
			t.Fatal(err)
		}
		if in != nil {
			if err := s.Write(ctx, []Invoice{*in}); err != nil {
				t.Fatal(err)
			}
		}
		return in
	}
	first := bill(line("fixed", "31", "days", "0.30", "9.30"), line("energy", "250.125", "kWh", "0.2031", "50.80"))
	first.EstimatedWh, first.EstimatedIntervals = 1250, 5
	b := run(first, now)
	if b == nil || b.Kind != KindBill {
		t.Fatalf("first run issued %+v", b)
	}
	if in := run(first, now.Add(time.Hour)); in != nil {
		t.Errorf("unchanged re-run issued %+v", in)
	}
	corrected := bill(line("fixed", "31", "days", "0.30", "9.30"), line("energy", "260.125", "kWh", "0.2031", "52.83"))
	adj := run(corrected, now.Add(24*time.Hour))
	if adj == nil || adj.Kind != KindAdjustment || adj.Original != b.ID || !adj.Total.Equal(d("2.03")) {
		t.Fatalf("corrected run issued %+v", adj)
	}
	if in := run(corrected, now.Add(25*time.Hour)); in != nil {
		t.Errorf("repeated corrected run issued %+v", in)
	}
	all, err := s.Agreement(ctx, "AG-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != b.ID || all[1].ID != adj.ID {
		t.Fatalf("stored %d invoices: %+v", len(all), all)
	}
	got := all[0]
	if !got.Total.Equal(d("60.10")) || got.EstimatedWh != 1250 || got.EstimatedIntervals != 5 || !got.From.Equal(march) ||
		len(got.Lines) != 2 || !got.Lines[1].Rate.Equal(d("0.2031")) || !got.Lines[1].Quantity.Equal(d("250.125")) {
		t.Errorf("stored bill %+v", got)
	}
}
