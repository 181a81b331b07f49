package vee

import "testing"

func TestQualityString(t *testing.T) {
	tests := []struct {
		q    Quality
		want string
	}{
		{QualityValid, "valid"},
		{QualityManuallyEdited, "manually edited"},
		{QualityEstimatedReferenceDay, "estimated using reference day"},
		{QualityEstimatedLinear, "estimated using linear interpolation"},
		{QualityQuestionable, "questionable"},
		{QualityDerived, "derived"},
		{QualityProjected, "projected (forecast)"},
		{QualityMixed, "mixed"},
		{QualityRaw, "raw"},
		{QualityWeatherNormalized, "normalized for weather"},
		{QualityOther, "other"},
		{QualityValidated, "validated"},
		{QualityVerified, "verified"},
		{QualityRevenue, "revenue-quality"},
		{3, "quality(3)"},
		{20, "quality(20)"},
		{255, "quality(255)"},
	}
	for _, tt := range tests {
		if got := tt.q.String(); got != tt.want {
			t.Errorf("Quality(%d).String() = %q, want %q", uint8(tt.q), got, tt.want)
		}
		if got, want := tt.q.Defined(), tt.want[0] != 'q' || tt.q == QualityQuestionable; got != want {
			t.Errorf("Quality(%d).Defined() = %v, want %v", uint8(tt.q), got, want)
		}
	}
}

func TestQualityCodes(t *testing.T) {
	// The numeric values are fixed by NAESB ESPI and stored; they must not move.
	codes := map[Quality]uint8{
		QualityValid: 0, QualityManuallyEdited: 7, QualityEstimatedReferenceDay: 8,
		QualityEstimatedLinear: 9, QualityQuestionable: 10, QualityDerived: 11,
		QualityProjected: 12, QualityMixed: 13, QualityRaw: 14, QualityWeatherNormalized: 15,
		QualityOther: 16, QualityValidated: 17, QualityVerified: 18, QualityRevenue: 19,
	}
	for q, want := range codes {
		if uint8(q) != want {
			t.Errorf("%v = %d, want %d", q, uint8(q), want)
		}
	}
}

func TestCombineQualities(t *testing.T) {
	tests := []struct {
		name   string
		in     []Quality
		want   Quality
		wantOK bool
	}{
		{"empty has no quality", nil, 0, false},
		{"single", []Quality{QualityEstimatedLinear}, QualityEstimatedLinear, true},
		{"all valid", []Quality{0, 0, 0}, QualityValid, true},
		{"all edited", []Quality{7, 7}, QualityManuallyEdited, true},
		{"valid and estimated", []Quality{0, 9, 0}, QualityMixed, true},
		{"valid and validated are different", []Quality{0, 17}, QualityMixed, true},
		{"mixed absorbs", []Quality{13, 0}, QualityMixed, true},
		{"all mixed", []Quality{13, 13}, QualityMixed, true},
		{"two estimation methods", []Quality{8, 9}, QualityMixed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := CombineQualities(tt.in...)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("CombineQualities(%v) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCombineIsOrderFree(t *testing.T) {
	qs := []Quality{0, 7, 8, 9, 10, 13, 16, 19}
	for _, a := range qs {
		for _, b := range qs {
			if a.Combine(b) != b.Combine(a) {
				t.Errorf("Combine not commutative for %d, %d", a, b)
			}
			for _, c := range qs {
				if a.Combine(b).Combine(c) != a.Combine(b.Combine(c)) {
					t.Errorf("Combine not associative for %d, %d, %d", a, b, c)
				}
			}
		}
	}
}

func TestTotal(t *testing.T) {
	tests := []struct {
		name   string
		in     []Interval
		wantWh int64
		wantQ  Quality
		wantOK bool
	}{
		{"empty", nil, 0, 0, false},
		{"same quality", []Interval{{Wh: 10}, {Wh: 15}}, 25, QualityValid, true},
		{"mixed", []Interval{{Wh: 10}, {Wh: 4, Quality: QualityEstimatedLinear}, {Wh: -2}}, 12, QualityMixed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wh, q, ok := Total(tt.in)
			if wh != tt.wantWh || q != tt.wantQ || ok != tt.wantOK {
				t.Errorf("Total = %d, %v, %v; want %d, %v, %v", wh, q, ok, tt.wantWh, tt.wantQ, tt.wantOK)
			}
		})
	}
}
