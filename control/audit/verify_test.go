package audit

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meterhouse/meterhouse/fault"
)

// entries returns n distinct entries a second apart.
func entries(n int) []Entry {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	out := make([]Entry, n)
	for i := range out {
		out[i] = Entry{At: t0.Add(time.Duration(i) * time.Second), Actor: "op-" + string(rune('a'+i)), Event: "requested",
			CommandID: "c" + string(rune('0'+i)), MeterID: "MTR-1", Detail: "reason"}
	}
	return out
}

// found is a problem as the tests compare them: seq and kind.
type found struct {
	seq  uint64
	kind string
}

func check(recs []Record, anchors ...Head) ([]found, Report) {
	slices.SortStableFunc(recs, func(a, b Record) int {
		if a.Seq != b.Seq {
			return int(a.Seq) - int(b.Seq)
		}
		return strings.Compare(a.Hash, b.Hash)
	})
	c := newChecker("db_private", anchors, nil)
	for _, r := range recs {
		c.add(r)
	}
	rep := c.finish()
	var out []found
	for _, p := range rep.Problems {
		out = append(out, found{p.Seq, p.Kind})
	}
	return out, rep
}

func TestChecker(t *testing.T) {
	orig := chain(0, ZeroHash, entries(10))
	anchor := func(seq int) Head {
		return Head{Log: "db_private", Seq: uint64(seq), Hash: orig[seq-1].Hash, At: time.Now()}
	}
	for _, tc := range []struct {
		name    string
		tamper  func(rs []Record) []Record
		anchors []Head
		want    []found
	}{
		{"intact", func(rs []Record) []Record { return rs }, []Head{anchor(10)}, nil},
		{"intact, older anchors", func(rs []Record) []Record { return rs }, []Head{anchor(3), anchor(7)}, nil},
		{"edited detail", func(rs []Record) []Record { rs[3].Detail = "forged"; return rs }, nil, []found{{4, KindEdited}}},
		{"edited time", func(rs []Record) []Record { rs[6].At = rs[6].At.Add(time.Nanosecond); return rs }, nil, []found{{7, KindEdited}}},
		{"edited hash", func(rs []Record) []Record { rs[6].Hash = strings.Repeat("ab", 32); return rs }, nil, []found{{7, KindEdited}}},
		{"not hex", func(rs []Record) []Record { rs[0].PrevHash = "x"; return rs }, nil, []found{{1, KindEdited}}},
		{"rewritten with its hash recomputed", func(rs []Record) []Record {
			rs[3].Detail = "forged"
			rs[3].Hash = Hash(4, rs[3].PrevHash, rs[3].Entry)
			return rs
		}, nil, []found{{5, KindChainBroken}}},
		{"reordered pair", func(rs []Record) []Record { rs[3].Seq, rs[4].Seq = 5, 4; return rs }, nil,
			[]found{{4, KindReordered}, {5, KindReordered}}},
		{"removed", func(rs []Record) []Record { return slices.Delete(rs, 3, 4) }, nil, []found{{4, KindMissing}}},
		{"removed range", func(rs []Record) []Record { return slices.Delete(rs, 3, 6) }, []Head{anchor(10)}, []found{{4, KindMissing}}},
		{"removed first", func(rs []Record) []Record { return rs[1:] }, nil, []found{{1, KindMissing}}},
		{"removed and renumbered", func(rs []Record) []Record {
			rs = slices.Delete(rs, 3, 4)
			for i := 3; i < len(rs); i++ {
				rs[i].Seq--
			}
			return rs
		}, nil, []found{{4, KindReordered}, {5, KindReordered}, {6, KindReordered}, {7, KindReordered}, {8, KindReordered}, {9, KindReordered}}},
		{"identical copy", func(rs []Record) []Record { return append(rs, rs[4]) }, nil, nil},
		{"row inserted beside", func(rs []Record) []Record {
			f := rs[4]
			f.Detail = "forged"
			return append(rs, f)
		}, nil, []found{{5, KindDuplicate}}},
		{"cut off", func(rs []Record) []Record { return rs[:7] }, []Head{anchor(5), anchor(10)}, []found{{8, KindTruncated}}},
		{"cut off, no anchor", func(rs []Record) []Record { return rs[:7] }, nil, nil},
		{"all removed", func(rs []Record) []Record { return nil }, []Head{anchor(10)}, []found{{1, KindTruncated}}},
		{"chain recomputed from 4", func(rs []Record) []Record {
			es := make([]Entry, 0, 7)
			for _, r := range rs[3:] {
				es = append(es, r.Entry)
			}
			es[0].Detail = "forged"
			return append(rs[:3], chain(3, rs[2].Hash, es)...)
		}, []Head{anchor(10)}, []found{{10, KindAnchorMismatch}}},
		{"seq zero", func(rs []Record) []Record { rs[0].Seq = 0; return rs }, nil, []found{{0, KindEdited}, {1, KindMissing}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := tc.tamper(slices.Clone(orig))
			got, rep := check(rs, tc.anchors...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems %v, want %v\n%v", got, tc.want, rep.Problems)
			}
			if rep.OK() != (len(tc.want) == 0) {
				t.Errorf("OK() = %v with problems %v", rep.OK(), rep.Problems)
			}
		})
	}
}

func TestCheckerReport(t *testing.T) {
	orig := chain(0, ZeroHash, entries(3))
	_, rep := check(slices.Clone(orig), Head{Log: "db_private", Seq: 2, Hash: orig[1].Hash})
	if rep.Head.Seq != 3 || rep.Head.Hash != orig[2].Hash || !rep.Head.At.Equal(orig[2].At) || rep.Entries != 3 {
		t.Errorf("head %+v entries %d, want entry 3", rep.Head, rep.Entries)
	}
	if rep.Anchors != 1 || rep.Anchor == nil || rep.Anchor.Seq != 2 {
		t.Errorf("anchors %d %+v, want the one of seq 2", rep.Anchors, rep.Anchor)
	}
	_, rep = check(nil)
	if !rep.OK() || rep.Head.Seq != 0 || rep.Head.Hash != ZeroHash {
		t.Errorf("empty log: %+v", rep)
	}
	// Problems beyond MaxProblems are counted, not listed.
	many := chain(0, ZeroHash, entries(1))
	for i := 0; i < MaxProblems+5; i++ {
		r := many[0]
		r.Seq = uint64(2 * (i + 1))
		many = append(many, r)
	}
	_, rep = check(many)
	if len(rep.Problems) != MaxProblems || rep.Omitted == 0 || rep.OK() {
		t.Errorf("%d problems listed, %d omitted", len(rep.Problems), rep.Omitted)
	}
}

func TestHash(t *testing.T) {
	e := entries(1)[0]
	h := Hash(1, ZeroHash, e)
	if err := CheckHash(h); err != nil {
		t.Fatal(err)
	}
	other := strings.Repeat("0", 63) + "1"
	f := e
	f.Actor, f.Event = e.Actor+"r", e.Event[1:] // the same bytes, cut elsewhere
	for name, h2 := range map[string]string{
		"seq": Hash(2, ZeroHash, e), "prev": Hash(1, other, e), "field boundary": Hash(1, ZeroHash, f),
		"time": Hash(1, ZeroHash, Entry{At: e.At.Add(1), Actor: e.Actor, Event: e.Event, CommandID: e.CommandID, MeterID: e.MeterID, Detail: e.Detail}),
	} {
		if h2 == h {
			t.Errorf("changing %s keeps the hash", name)
		}
	}
	// The same instant in another zone is the same entry.
	g := e
	g.At = e.At.In(time.FixedZone("x", 3600))
	if Hash(1, ZeroHash, g) != h {
		t.Error("the hash depends on the time's zone")
	}
	for _, bad := range []string{"", "abc", strings.Repeat("A", 64), strings.Repeat("g", 64)} {
		if CheckHash(bad) == nil {
			t.Errorf("CheckHash(%q) accepted", bad)
		}
	}
}

func TestEntryCheck(t *testing.T) {
	ok := entries(1)[0]
	for _, tc := range []struct {
		field string
		edit  func(e *Entry)
	}{
		{"at", func(e *Entry) { e.At = time.Time{} }},
		{"at", func(e *Entry) { e.At = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"actor", func(e *Entry) { e.Actor = "" }},
		{"event", func(e *Entry) { e.Event = "" }},
		{"detail", func(e *Entry) { e.Detail = strings.Repeat("x", maxField+1) }},
	} {
		e := ok
		tc.edit(&e)
		var fe *fault.FieldError
		if err := e.Check(); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: Check() = %v, want a field error on %s", tc.field, err, tc.field)
		}
	}
	if err := ok.Check(); err != nil {
		t.Errorf("valid entry: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		edit func(c *Config)
	}{
		{"audit.anchor_topic", func(c *Config) { c.AnchorTopic = "" }},
		{"audit.anchor_topic", func(c *Config) { c.AnchorTopic = "a b" }},
		{"audit.anchor_interval", func(c *Config) { c.AnchorInterval = 0 }},
		{"audit.anchor_interval", func(c *Config) { c.AnchorInterval = 500 * time.Millisecond }},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.key+":") {
			t.Errorf("Validate() = %v, want an error on %s", err, tc.key)
		}
	}
}

func TestMemoryAnchor(t *testing.T) {
	var m MemoryAnchor
	for i := 1; i <= 5; i++ {
		_ = m.Publish(t.Context(), Head{Log: "a", Seq: uint64(i), Hash: ZeroHash})
		_ = m.Publish(t.Context(), Head{Log: "b", Seq: uint64(10 * i), Hash: ZeroHash})
	}
	hs, _ := m.Latest(t.Context(), "a", 2)
	if len(hs) != 2 || hs[0].Seq != 4 || hs[1].Seq != 5 {
		t.Errorf("Latest(a, 2) = %+v", hs)
	}
}

// TestCheckerOwnHead checks that the verifying process's own head catches a cut-off end
// without any published anchor, and is not reported as an anchor.
func TestCheckerOwnHead(t *testing.T) {
	orig := chain(0, ZeroHash, entries(10))
	own := Head{Log: "db_private", Seq: 10, Hash: orig[9].Hash}
	c := newChecker("db_private", nil, &own)
	for _, r := range orig[:7] {
		c.add(r)
	}
	rep := c.finish()
	if len(rep.Problems) != 1 || rep.Problems[0].Seq != 8 || rep.Problems[0].Kind != KindTruncated ||
		!strings.Contains(rep.Problems[0].Detail, "this process") {
		t.Errorf("problems %v, want entry 8 truncated", rep.Problems)
	}
	if rep.Anchors != 0 || rep.Anchor != nil {
		t.Errorf("the own head counted as an anchor: %d %+v", rep.Anchors, rep.Anchor)
	}
	c = newChecker("db_private", nil, &own)
	for _, r := range orig {
		c.add(r)
	}
	if rep := c.finish(); !rep.OK() {
		t.Errorf("intact log: %v", rep.Problems)
	}
}
