package testenv

import (
	"testing"
	"time"
)

func TestBind(t *testing.T) {
	at := time.Date(2026, 3, 28, 6, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name, sql string
		args      []any
		want      string
		wantErr   bool
	}{
		{"string escaped", "x = ?", []any{`it's \ here`}, `x = 'it\'s \\ here'`, false},
		{"time in UTC", "t < ?", []any{at}, "t < toDateTime('2026-03-28 05:00:00', 'UTC')", false},
		{"integers", "? + ? + ?", []any{-3, uint32(4), int64(5)}, "-3 + 4 + 5", false},
		{"arrays", "arrayJoin(?) AND ?", []any{[]string{"M1", "M'2"}, []int64{1, 2}}, `arrayJoin(['M1', 'M\'2']) AND [1, 2]`, false},
		{"empty array", "?", []any{[]string{}}, "[]", false},
		{"too few arguments", "? ?", []any{1}, "", true},
		{"unsupported type", "?", []any{1.5}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Bind(tt.sql, tt.args...)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Bind(%q, %v) = %q, %v; want %q (error %v)", tt.sql, tt.args, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOrderedSQL(t *testing.T) {
	tests := []struct {
		sql  string
		want bool
	}{
		{"SELECT a FROM t\nORDER BY a", true},
		{"SELECT a FROM t\nORDER BY a DESC, b\nLIMIT 3", true},
		{"SELECT count() FROM\n(\nSELECT a FROM t\nORDER BY a\n)", false},
		{"SELECT a FROM t WHERE a IN (SELECT a FROM u ORDER BY a LIMIT 2)", false},
	}
	for _, tt := range tests {
		if got := orderedSQL.MatchString(tt.sql); got != tt.want {
			t.Errorf("orderedSQL(%q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
}
