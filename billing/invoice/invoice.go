// Package invoice keeps the invoices a billing run issues and decides, when a run is
// repeated, whether anything must be issued at all: a re-run over unchanged data issues
// nothing new (the same invoice id, the same amounts), and a re-run after corrected data
// (an edit, late readings) issues an adjustment invoice for the difference that references
// the original, never a second bill for the same period.
//
// Amounts are exact decimals (github.com/shopspring/decimal); nothing here uses float64.
// Ids are derived from what identifies a bill (agreement, period, sequence), so a run
// killed halfway and started again writes the same ids.
package invoice

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Kind says what an invoice is.
type Kind string

const (
	// KindBill is the first invoice of an agreement's billing period.
	KindBill Kind = "bill"
	// KindAdjustment corrects the invoices already issued for the period by the difference
	// between the period's recomputed bill and their sum.
	KindAdjustment Kind = "adjustment"
)

// Line is one line of an invoice: a charge, a credit or a tax.
type Line struct {
	// Name names the line as the tariff does ("energy peak", "fixed charge", "VAT").
	Name string `json:"name"`
	// Quantity and Unit are what was charged for (kWh, kW, days, …); Rate is the price per
	// unit and Amount the line's money, rounded as the tariff says.
	Quantity decimal.Decimal `json:"quantity"`
	Unit     string          `json:"unit"`
	Rate     decimal.Decimal `json:"rate"`
	Amount   decimal.Decimal `json:"amount"`
}

// Bill is a computed bill of one agreement's period, before it becomes an invoice.
type Bill struct {
	// AgreementID and AccountID identify whom it is for.
	AgreementID, AccountID string
	// From and To are the billed local dates [From, To), as UTC midnights.
	From, To time.Time
	// TariffID and TariffVersion name the tariff (the version in force at To − 1 day when
	// the period spans two: the lines then say how it was prorated).
	TariffID, TariffVersion string
	// Currency is the ISO 4217 code of every amount.
	Currency string
	// Lines are the bill's lines and Total their sum (after any minimum bill).
	Lines []Line
	Total decimal.Decimal
	// EstimatedWh is the energy of estimated intervals in the period, and
	// EstimatedIntervals their number: an invoice says how much of it is estimated.
	EstimatedWh        int64
	EstimatedIntervals int
}

// Invoice is a bill or an adjustment as issued.
type Invoice struct {
	// ID is derived from the agreement, the period and Sequence (see ID).
	ID string `json:"id"`
	// Kind is KindBill or KindAdjustment; Sequence is 0 for the bill and 1, 2, … for the
	// period's adjustments; Original is the bill's id on an adjustment.
	Kind     Kind   `json:"kind"`
	Sequence int    `json:"sequence"`
	Original string `json:"original,omitempty"`
	Bill
	// Issued is when the run that issued it computed it.
	Issued time.Time `json:"issued"`
}

// ID returns the invoice id of an agreement's period and sequence number: the first 20
// hex digits of a SHA-256 of them, prefixed "INV-". A re-run gets the same id.
func ID(agreementID string, from, to time.Time, sequence int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%d", agreementID, from.Format(time.DateOnly), to.Format(time.DateOnly), sequence))
	return "INV-" + hex.EncodeToString(h[:10])
}

// ErrMixedPeriod reports invoices of different agreements, periods or currencies passed as
// one period's history.
var ErrMixedPeriod = errors.New("invoice: issued invoices of another agreement, period or currency")

// Decide returns what a run must issue for bill b given the invoices already issued for
// the same agreement and period: a bill when there is none; nothing when their sum equals
// b line by line (a re-run over unchanged data); else one adjustment whose lines are the
// differences per line name (new lines in full, vanished lines negated) and whose total is
// b's total minus what was issued. issued may be in any order.
func Decide(b Bill, issued []Invoice, now time.Time) (*Invoice, error) {
	if len(issued) == 0 {
		return &Invoice{ID: ID(b.AgreementID, b.From, b.To, 0), Kind: KindBill, Bill: b, Issued: now}, nil
	}
	var bill *Invoice
	seq := 0
	for i := range issued {
		in := &issued[i]
		if in.AgreementID != b.AgreementID || !in.From.Equal(b.From) || !in.To.Equal(b.To) || in.Currency != b.Currency {
			return nil, fmt.Errorf("%w: %s for %s %s–%s in %s, the bill is for %s %s–%s in %s", ErrMixedPeriod, in.ID,
				in.AgreementID, in.From.Format(time.DateOnly), in.To.Format(time.DateOnly), in.Currency,
				b.AgreementID, b.From.Format(time.DateOnly), b.To.Format(time.DateOnly), b.Currency)
		}
		if in.Kind == KindBill {
			bill = in
		}
		seq = max(seq, in.Sequence)
	}
	if bill == nil {
		return nil, fmt.Errorf("invoice: the period's invoices have adjustments but no bill")
	}
	sum := sumLines(issued)
	diff := diffLines(sum, b.Lines)
	total := b.Total
	for _, in := range issued {
		total = total.Sub(in.Total)
	}
	if len(diff) == 0 && total.IsZero() {
		return nil, nil // unchanged: nothing to issue
	}
	adj := b
	adj.Lines, adj.Total = diff, total
	return &Invoice{ID: ID(b.AgreementID, b.From, b.To, seq+1), Kind: KindAdjustment, Sequence: seq + 1, Original: bill.ID, Bill: adj, Issued: now}, nil
}

// lineKey identifies a line across invoices: its name, unit and rate.
type lineKey struct{ name, unit, rate string }

// sumLines adds the invoices' lines by key, in first-seen order.
func sumLines(ins []Invoice) []Line {
	var out []Line
	idx := map[lineKey]int{}
	slices.SortStableFunc(ins, func(a, b Invoice) int { return a.Sequence - b.Sequence })
	for _, in := range ins {
		for _, l := range in.Lines {
			k := lineKey{l.Name, l.Unit, l.Rate.String()}
			if i, ok := idx[k]; ok {
				out[i].Quantity = out[i].Quantity.Add(l.Quantity)
				out[i].Amount = out[i].Amount.Add(l.Amount)
				continue
			}
			idx[k] = len(out)
			out = append(out, l)
		}
	}
	return out
}

// diffLines returns the lines that turn was into now: per key, now's quantity and amount
// minus was's, for the keys where they differ.
func diffLines(was, now []Line) []Line {
	var out []Line
	seen := map[lineKey]bool{}
	old := map[lineKey]Line{}
	for _, l := range was {
		old[lineKey{l.Name, l.Unit, l.Rate.String()}] = l
	}
	for _, l := range now {
		k := lineKey{l.Name, l.Unit, l.Rate.String()}
		seen[k] = true
		o, ok := old[k]
		if !ok {
			out = append(out, l)
			continue
		}
		if !o.Quantity.Equal(l.Quantity) || !o.Amount.Equal(l.Amount) {
			out = append(out, Line{Name: l.Name, Unit: l.Unit, Rate: l.Rate, Quantity: l.Quantity.Sub(o.Quantity), Amount: l.Amount.Sub(o.Amount)})
		}
	}
	for _, l := range was {
		if k := (lineKey{l.Name, l.Unit, l.Rate.String()}); !seen[k] && !(l.Quantity.IsZero() && l.Amount.IsZero()) {
			out = append(out, Line{Name: l.Name, Unit: l.Unit, Rate: l.Rate, Quantity: l.Quantity.Neg(), Amount: l.Amount.Neg()})
		}
	}
	return out
}
