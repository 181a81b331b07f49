package vee

import (
	"math"
	"slices"
	"testing"
)

func TestDistribute(t *testing.T) {
	tests := []struct {
		name    string
		total   int64
		weights []uint64
		want    []int64
	}{
		{"equal weights, remainder to the first", 10, []uint64{1, 1, 1}, []int64{4, 3, 3}},
		{"equal weights, exact", 9, []uint64{5, 5, 5}, []int64{3, 3, 3}},
		{"negative total", -10, []uint64{1, 1, 1}, []int64{-4, -3, -3}},
		{"zero weights are equal shares", 7, []uint64{0, 0}, []int64{4, 3}},
		{"nil weights are equal shares", 5, nil, []int64{1, 1, 1, 1, 1, 0, 0}},
		// 101 × (10,30,0,20,40)/100 = 10.1, 30.3, 0, 20.2, 40.4: floors sum to 100,
		// the one Wh left goes to the largest remainder (0.4).
		{"largest remainder", 101, []uint64{10, 30, 0, 20, 40}, []int64{10, 30, 0, 20, 41}},
		// 10 × (1,1,1)/3: remainders tie, the earliest wins.
		{"tie goes to the earliest", 2, []uint64{1, 1, 1}, []int64{1, 1, 0}},
		// 7 × (1,2,4)/7 = 1, 2, 4 exactly.
		{"exact proportions", 7, []uint64{1, 2, 4}, []int64{1, 2, 4}},
		// 10 × (1,2)/3 = 3.33, 6.67: floors 3 + 6, one left to the second.
		{"uneven", 10, []uint64{1, 2}, []int64{3, 7}},
		{"zero total", 0, []uint64{3, 1}, []int64{0, 0}},
		{"one weight only", 12, []uint64{0, 9, 0}, []int64{0, 12, 0}},
		{"huge total, 128-bit product", math.MaxInt64, []uint64{1 << 40, 1 << 40}, []int64{1 << 62, 1<<62 - 1}},
		{"min int64", math.MinInt64, []uint64{1, 1}, []int64{-(1 << 62), -(1 << 62)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make([]int64, len(tt.want))
			distribute(tt.total, tt.weights, got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("distribute(%d, %v) = %v, want %v", tt.total, tt.weights, got, tt.want)
			}
			var sum int64
			for _, v := range got {
				sum += v
			}
			if sum != tt.total {
				t.Errorf("shares sum to %d, want %d", sum, tt.total)
			}
		})
	}
}

func TestEvenShare(t *testing.T) {
	tests := []struct {
		total, n int64
		want     []int64
	}{
		{10, 4, []int64{3, 3, 2, 2}},
		{-10, 4, []int64{-3, -3, -2, -2}},
		{3, 5, []int64{1, 1, 1, 0, 0}},
		{0, 2, []int64{0, 0}},
		{8, 1, []int64{8}},
	}
	for _, tt := range tests {
		got := make([]int64, tt.n)
		for i := range got {
			got[i] = evenShare(tt.total, tt.n, int64(i))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("evenShare(%d, %d, ·) = %v, want %v", tt.total, tt.n, got, tt.want)
		}
	}
}

func TestRoundDiv(t *testing.T) {
	tests := []struct{ sum, c, want int64 }{
		{10, 4, 3}, // 2.5 rounds away from zero
		{9, 4, 2},  // 2.25
		{11, 4, 3}, // 2.75
		{-10, 4, -3},
		{0, 3, 0},
	}
	for _, tt := range tests {
		if got := roundDiv(tt.sum, tt.c); got != tt.want {
			t.Errorf("roundDiv(%d, %d) = %d, want %d", tt.sum, tt.c, got, tt.want)
		}
	}
}
