package table

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"testing"
)

// jsonCases are strings whose JSON encoding has every escape json.Marshal makes.
var jsonCases = []string{
	"", "plain", `quo"te`, `back\\slash`, "new\nline", "cr\r", "tab\t", "\b\f", "\x00\x01\x1f\x7f",
	"<script>&amp;</script>", "ünïcödé €", "\u2028\u2029", "bad \xff\xfe utf8", "\xe2\x82", "emoji 😀", "a\u2027b\u202a",
}

// TestAppendJSONStringMatchesMarshal checks that AppendJSONString writes what json.Marshal
// writes, escapes included, appending to what dst holds.
func TestAppendJSONStringMatchesMarshal(t *testing.T) {
	for _, s := range jsonCases {
		want, _ := json.Marshal(s)
		if got := AppendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("AppendJSONString(%q) = %s, want %s", s, got[1:], want)
		}
	}
}

// FuzzAppendJSONString checks AppendJSONString against json.Marshal on any string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}

// csvCases are cells that encoding/csv quotes and that it does not.
var csvCases = []string{
	"", "plain", "a,b", `quo"te`, "line\nbreak", "cr\rhere", " leading space", "\u00a0nbsp", "\u3000ideographic",
	`\.`, `\.x`, "trailing ", "x\ty", "ünï", "'quoted", "=formula", "\xff",
}

// TestWriteCSVQuotesAsEncodingCSV checks that WriteCSV quotes every cell (and column
// name) exactly as encoding/csv's Writer does, after the formula guard.
func TestWriteCSVQuotesAsEncodingCSV(t *testing.T) {
	cells := make([]string, len(csvCases))
	copy(cells, csvCases)
	var got bytes.Buffer
	if err := WriteCSV(&got, New(Strings("a b", cells), Strings(" c,d", cells))); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	cw := csv.NewWriter(&want)
	_ = cw.Write([]string{"a b", " c,d"})
	for _, c := range cells {
		g := string(appendCSVText(nil, c))
		_ = cw.Write([]string{g, g})
	}
	cw.Flush()
	if got.String() != want.String() {
		t.Errorf("got\n%q\nwant\n%q", got.String(), want.String())
	}
}

// FuzzWriteCSV checks WriteCSV against encoding/csv on any string cell.
func FuzzWriteCSV(f *testing.F) {
	for _, s := range csvCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got, want bytes.Buffer
		if err := WriteCSV(&got, New(Strings("c", []string{s}))); err != nil {
			t.Fatal(err)
		}
		cw := csv.NewWriter(&want)
		_ = cw.Write([]string{"c"})
		_ = cw.Write([]string{string(appendCSVText(nil, s))})
		cw.Flush()
		if got.String() != want.String() {
			t.Fatalf("got %q, want %q", got.String(), want.String())
		}
	})
}

// TestColumnReset checks that Reset empties a column, null marks included, and that it
// can be filled again.
func TestColumnReset(t *testing.T) {
	c := Strings("s", nil)
	c.Append("a")
	c.AppendNull()
	c.Append("b")
	if c.Len() != 3 || !c.IsNull(1) || c.IsNull(2) || string(c.AppendJSON(nil, 1)) != "null" || string(c.AppendCSV(nil, 1)) != "" {
		t.Fatalf("column %+v", c)
	}
	tbl := New(c)
	tbl.Reset()
	if c.Len() != 0 || c.Nulls != nil || c.Name() != "s" || c.Type() != TypeString {
		t.Fatalf("after Reset: %+v", c)
	}
	c.Append("x")
	if err := tbl.Validate(); err != nil || string(c.AppendJSON(nil, 0)) != `"x"` {
		t.Fatalf("refilled: %v %s", err, c.AppendJSON(nil, 0))
	}
}
