package consumption

import (
	"reflect"
	"testing"
	"time"
)

func TestHourBuckets(t *testing.T) {
	h := func(i int) time.Time { return time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC) }
	at := func(i, min int) time.Time { return h(i).Add(time.Duration(min) * time.Minute) }
	from := h(2)
	tests := []struct {
		name     string
		rows     []hourRegister
		want     []bucket
		wantPrev int64
		wantHas  bool
	}{
		{"nothing", nil, []bucket{}, 0, false},
		{"marker and buckets", []hourRegister{
			{h(0), at(1, 0), 90}, {h(1), at(2, 0), 100}, {h(2), at(3, 0), 130}, {h(3), at(4, 0), 160},
		}, []bucket{{h(2), 130}, {h(3), 160}}, 100, true},
		{"unmerged rows of one hour: the latest reading wins, in any order", []hourRegister{
			{h(3), at(3, 45), 150}, {h(2), at(3, 0), 130}, {h(3), at(4, 0), 160}, {h(2), at(2, 30), 120}, {h(3), at(3, 15), 140},
		}, []bucket{{h(2), 130}, {h(3), 160}}, 0, false},
		{"replayed rows are equal", []hourRegister{
			{h(1), at(2, 0), 100}, {h(2), at(3, 0), 130}, {h(1), at(2, 0), 100}, {h(2), at(3, 0), 130},
		}, []bucket{{h(2), 130}}, 100, true},
		{"marker is the latest hour before from", []hourRegister{
			{h(1), at(1, 30), 95}, {h(0), at(1, 0), 90}, {h(1), at(1, 15), 93},
		}, []bucket{}, 95, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs, prev, has := hourBuckets(tt.rows, from)
			if !reflect.DeepEqual(bs, tt.want) || prev != tt.wantPrev || has != tt.wantHas {
				t.Errorf("got %v, %d, %v; want %v, %d, %v", bs, prev, has, tt.want, tt.wantPrev, tt.wantHas)
			}
		})
	}
}
