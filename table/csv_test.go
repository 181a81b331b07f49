package table

import (
	"bytes"
	"encoding/csv"
	"reflect"
	"testing"
)

// TestWriteCSVNeutralisesFormulas checks that string cells and column names a spreadsheet
// would run as formulas (starting with =, +, -, @, tab or carriage return) get a single
// quote in front, that other strings keep their text, and that numeric columns, negative
// numbers included, stay as they are.
func TestWriteCSVNeutralisesFormulas(t *testing.T) {
	cells := []string{
		"=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR",
		"plain", "", "a=b", " =spaced", "'quoted", "MTR-1", "\n=after newline",
		// Decimals rendered as text (billing amounts) are numbers, not formulas.
		"-1.50", "+3", "-2.5e-3", "-", "-1.5.5", "-1e", "-1e+", "-0x1F", "-1-1",
	}
	want := []string{
		"'=HYPERLINK(\"http://evil\",\"x\")", "'+1+1", "'-2+3", "'@SUM(A1:A2)", "'\tTAB", "'\rCR",
		"plain", "", "a=b", " =spaced", "'quoted", "MTR-1", "\n=after newline",
		"-1.50", "+3", "-2.5e-3", "'-", "'-1.5.5", "'-1e", "'-1e+", "'-0x1F", "'-1-1",
	}
	n := len(cells)
	ints, uints, floats := make([]int64, n), make([]uint64, n), make([]float64, n)
	for i := range n {
		ints[i], uints[i], floats[i] = -int64(i), uint64(i), -1.5*float64(i)
	}
	tbl := New(Strings("reason", cells), Int64s("-delta", ints), UInt64s("n", uints), Float64s("f", floats))
	var buf bytes.Buffer
	if err := WriteCSV(&buf, tbl); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[0]; !reflect.DeepEqual(got, []string{"reason", "'-delta", "n", "f"}) {
		t.Errorf("header %q", got)
	}
	for i, rec := range recs[1:] {
		if rec[0] != want[i] {
			t.Errorf("cell %q written as %q, want %q", cells[i], rec[0], want[i])
		}
		wantNums := []string{formatInt(-int64(i)), formatInt(int64(i)), formatFloat(-1.5 * float64(i))}
		if !reflect.DeepEqual(rec[1:], wantNums) {
			t.Errorf("row %d numbers %q, want %q", i, rec[1:], wantNums)
		}
	}
}

func formatInt(v int64) string { return string(Int64s("", []int64{v}).AppendCSV(nil, 0)) }
func formatFloat(v float64) string {
	return string(Float64s("", []float64{v}).AppendCSV(nil, 0))
}
