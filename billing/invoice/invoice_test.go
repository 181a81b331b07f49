package invoice

import (
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func line(name, qty, unit, rate, amount string) Line {
	return Line{Name: name, Quantity: d(qty), Unit: unit, Rate: d(rate), Amount: d(amount)}
}

var (
	march = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	april = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	now   = time.Date(2026, 4, 2, 6, 0, 0, 0, time.UTC)
)

func bill(lines ...Line) Bill {
	total := decimal.Zero
	for _, l := range lines {
		total = total.Add(l.Amount)
	}
	return Bill{AgreementID: "AG-1", AccountID: "AC-1", From: march, To: april, TariffID: "res", TariffVersion: "2026", Currency: "EUR", Lines: lines, Total: total}
}

func TestIDStable(t *testing.T) {
	a, b := ID("AG-1", march, april, 0), ID("AG-1", march, april, 0)
	if a != b || len(a) != 24 {
		t.Fatalf("ids %q and %q: want equal, 24 characters", a, b)
	}
	for _, other := range []string{ID("AG-2", march, april, 0), ID("AG-1", march, april, 1), ID("AG-1", march, april.AddDate(0, 0, 1), 0)} {
		if other == a {
			t.Errorf("id %q repeats for another agreement, period or sequence", other)
		}
	}
}

func TestDecide(t *testing.T) {
	first := bill(line("fixed", "31", "days", "0.30", "9.30"), line("energy", "250", "kWh", "0.20", "50.00"))
	issued, err := Decide(first, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if issued.Kind != KindBill || issued.Sequence != 0 || issued.ID != ID("AG-1", march, april, 0) || !issued.Total.Equal(d("59.30")) {
		t.Fatalf("first run: %+v", issued)
	}

	// A re-run over the same data issues nothing.
	again, err := Decide(first, []Invoice{*issued}, now.Add(time.Hour))
	if err != nil || again != nil {
		t.Fatalf("re-run: %+v, %v; want nothing", again, err)
	}

	// An edit added 12.5 kWh and a new line: one adjustment for the difference.
	corrected := bill(line("fixed", "31", "days", "0.30", "9.30"), line("energy", "262.5", "kWh", "0.20", "52.50"), line("late fee", "1", "each", "1.00", "1.00"))
	adj, err := Decide(corrected, []Invoice{*issued}, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if adj.Kind != KindAdjustment || adj.Sequence != 1 || adj.Original != issued.ID || !adj.Total.Equal(d("3.50")) || len(adj.Lines) != 2 {
		t.Fatalf("adjustment: %+v", adj)
	}
	if l := adj.Lines[0]; l.Name != "energy" || !l.Quantity.Equal(d("12.5")) || !l.Amount.Equal(d("2.50")) {
		t.Errorf("energy difference %+v, want 12.5 kWh and 2.50", l)
	}
	// The same correction run again issues nothing more; a later one that removes the fee
	// negates it, referencing the bill again.
	if again, err := Decide(corrected, []Invoice{*adj, *issued}, now.Add(48*time.Hour)); err != nil || again != nil {
		t.Fatalf("re-run after the adjustment: %+v, %v; want nothing", again, err)
	}
	adj2, err := Decide(bill(line("fixed", "31", "days", "0.30", "9.30"), line("energy", "262.5", "kWh", "0.20", "52.50")), []Invoice{*issued, *adj}, now.Add(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if adj2.Sequence != 2 || adj2.Original != issued.ID || !adj2.Total.Equal(d("-1.00")) || len(adj2.Lines) != 1 || !adj2.Lines[0].Amount.Equal(d("-1.00")) {
		t.Errorf("second adjustment: %+v", adj2)
	}
}

func TestDecideRefusesMixedPeriods(t *testing.T) {
	b := bill(line("energy", "1", "kWh", "0.2", "0.20"))
	first, _ := Decide(b, nil, now)
	other := b
	other.To = april.AddDate(0, 0, 1)
	if _, err := Decide(other, []Invoice{*first}, now); !errors.Is(err, ErrMixedPeriod) {
		t.Errorf("err = %v, want ErrMixedPeriod", err)
	}
}
