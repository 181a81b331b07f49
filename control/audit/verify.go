package audit

import (
	"fmt"
	"slices"
	"time"
)

// The kinds of problem Verify reports.
const (
	// KindMissing: entries with these numbers are not stored (removed).
	KindMissing = "missing"
	// KindEdited: the entry's fields do not match its hash (changed after it was appended).
	KindEdited = "edited"
	// KindReordered: the entry is intact but stored under another number than it was
	// appended as (entries were swapped or moved).
	KindReordered = "reordered"
	// KindDuplicate: several different entries are stored under one number (a row was
	// inserted beside the original).
	KindDuplicate = "duplicate"
	// KindChainBroken: the entry is intact but does not chain to the entry before it (that
	// one was replaced with a recomputed hash, or entries were removed and renumbered).
	KindChainBroken = "chain_broken"
	// KindAnchorMismatch: an anchor names another hash for this entry than the log holds
	// (the chain was rewritten up to here).
	KindAnchorMismatch = "anchor_mismatch"
	// KindTruncated: an anchor names entries after the log's last one (the end was cut
	// off).
	KindTruncated = "truncated"
)

// Problem is one thing Verify found wrong.
type Problem struct {
	// Seq is the number of the entry concerned (the first one of a range).
	Seq uint64 `json:"seq"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Detail says what is wrong in a sentence.
	Detail string `json:"detail"`
}

// String formats p as "seq N: kind: detail".
func (p Problem) String() string { return fmt.Sprintf("seq %d: %s: %s", p.Seq, p.Kind, p.Detail) }

// Report is the result of verifying a log.
type Report struct {
	// Head is the last stored entry's number and hash, At its time.
	Head Head `json:"head"`
	// Entries counts the rows read.
	Entries uint64 `json:"entries"`
	// Anchors counts the anchors the chain was compared with; Anchor is the latest of
	// them (the largest seq), nil when there was none.
	Anchors int   `json:"anchors"`
	Anchor  *Head `json:"anchor,omitempty"`
	// Problems lists what is wrong, in seq order, at most MaxProblems; Omitted counts
	// those left out.
	Problems []Problem `json:"problems"`
	Omitted  int       `json:"omitted,omitempty"`
}

// OK reports whether the log verified without a problem.
func (r Report) OK() bool { return len(r.Problems) == 0 && r.Omitted == 0 }

// MaxProblems bounds the problems a Report lists.
const MaxProblems = 1000

// reorderWindow is how far from its stored number Verify looks for the number an intact
// but misplaced entry was appended as.
const reorderWindow = 16

// checker verifies a chain from its records, fed in seq order (records with equal seq
// adjacent), against anchors. It holds only the previous entry and the current seq's
// records, so that verifying needs memory independent of the log's length.
type checker struct {
	rep   Report
	marks map[uint64][]mark
	// furthest is the mark of the largest seq: the log must reach it.
	furthest *mark

	expect  uint64  // the next seq the chain should hold
	prev    *Record // the entry at expect-1, nil when there is none or it was missing
	prevBad bool    // prev is not intact: the next entry's link cannot be judged
	group   []Record
}

// mark is a head the log must hold: a published anchor, or the appending process's own.
type mark struct {
	Head
	// what names it in messages.
	what string
}

// newChecker returns a checker comparing against anchors (of any order; those of seq 0
// and those that are not usable are ignored) and own, the head the verifying process
// itself appended up to, when it has one (not counted as an anchor in the report).
func newChecker(log string, anchors []Head, own *Head) *checker {
	c := &checker{marks: map[uint64][]mark{}, expect: 1}
	c.rep.Head = Head{Log: log, Hash: ZeroHash}
	add := func(m mark) {
		c.marks[m.Seq] = append(c.marks[m.Seq], m)
		if c.furthest == nil || m.Seq > c.furthest.Seq {
			c.furthest = &m
		}
	}
	for _, a := range anchors {
		if a.Seq == 0 || a.check() != nil {
			continue
		}
		add(mark{a, "the anchor published at " + a.At.UTC().Format(time.RFC3339)})
		c.rep.Anchors++
		if c.rep.Anchor == nil || a.Seq > c.rep.Anchor.Seq || (a.Seq == c.rep.Anchor.Seq && a.At.After(c.rep.Anchor.At)) {
			c.rep.Anchor = &a
		}
	}
	if own != nil && own.Seq > 0 {
		add(mark{*own, "this process, which appended the log up to here,"})
	}
	return c
}

func (c *checker) problem(seq uint64, kind, format string, args ...any) {
	if len(c.rep.Problems) >= MaxProblems {
		c.rep.Omitted++
		return
	}
	c.rep.Problems = append(c.rep.Problems, Problem{Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

// add takes the next stored record.
func (c *checker) add(r Record) {
	c.rep.Entries++
	if len(c.group) > 0 && c.group[0].Seq != r.Seq {
		c.flush()
	}
	c.group = append(c.group, r)
}

// finish checks what remains and returns the report.
func (c *checker) finish() Report {
	c.flush()
	if f := c.furthest; f != nil && f.Seq >= c.expect {
		c.problem(c.expect, KindTruncated, "%s names entry %d (hash %s), but the log ends at entry %d: entries %d to %d were cut off",
			f.what, f.Seq, short(f.Hash), c.expect-1, c.expect, f.Seq)
	}
	return c.rep
}

// flush judges the records of one seq.
func (c *checker) flush() {
	if len(c.group) == 0 {
		return
	}
	group := c.group
	c.group = nil
	seq := group[0].Seq
	if seq < c.expect {
		// Only seq 0 can sort before the first expected number.
		for range group {
			c.problem(seq, KindEdited, "no entry is numbered 0: a stored row's number was changed")
		}
		return
	}
	if seq > c.expect {
		if seq == c.expect+1 {
			c.problem(c.expect, KindMissing, "entry %d is not stored: it was removed", c.expect)
		} else {
			c.problem(c.expect, KindMissing, "entries %d to %d are not stored: they were removed", c.expect, seq-1)
		}
		c.prev, c.prevBad = nil, true
		c.expect = seq
	}
	// Identical copies (an insert that was sent twice) are one entry.
	var distinct []Record
	for _, r := range group {
		if !slices.ContainsFunc(distinct, func(d Record) bool { return same(d, r) }) {
			distinct = append(distinct, r)
		}
	}
	wantPrev := ZeroHash
	linkKnown := seq == 1
	if c.prev != nil && !c.prevBad {
		wantPrev, linkKnown = c.prev.Hash, true
	}
	links := func(r Record) bool { return !linkKnown || r.PrevHash == wantPrev }
	// The entry that continues the chain: intact and linked, or else intact, or else the
	// first.
	chosen := distinct[0]
	if i := slices.IndexFunc(distinct, func(r Record) bool { return r.intact() && links(r) }); i >= 0 {
		chosen = distinct[i]
	} else if i := slices.IndexFunc(distinct, Record.intact); i >= 0 {
		chosen = distinct[i]
	}
	if len(distinct) > 1 {
		c.problem(seq, KindDuplicate, "%d different entries are stored as entry %d: a row was inserted beside the original", len(distinct), seq)
	}
	ok := chosen.intact()
	switch {
	case !ok:
		if t, found := appendedAs(chosen); found {
			c.problem(seq, KindReordered, "the entry stored as %d was appended as entry %d (%s by %s at %s)",
				seq, t, chosen.Event, chosen.Actor, chosen.At.UTC().Format(time.RFC3339))
		} else {
			c.problem(seq, KindEdited, "its fields do not match its hash %s: it was changed after it was appended", short(chosen.Hash))
		}
	case !links(chosen):
		c.problem(seq, KindChainBroken, "its previous hash %s is not entry %d's hash %s: entry %d was replaced with a recomputed hash, or entries were removed and renumbered",
			short(chosen.PrevHash), seq-1, short(wantPrev), seq-1)
	}
	for _, m := range c.marks[seq] {
		if m.Hash != chosen.Hash {
			c.problem(seq, KindAnchorMismatch, "%s names hash %s for entry %d, the log holds %s: the chain was rewritten up to here",
				m.what, short(m.Hash), seq, short(chosen.Hash))
		}
	}
	c.prev, c.prevBad = &chosen, !ok
	c.expect = seq + 1
	c.rep.Head = Head{Log: c.rep.Head.Log, Seq: seq, Hash: chosen.Hash, At: chosen.At}
}

// appendedAs returns the number, near its stored one, that r's hash was computed with.
func appendedAs(r Record) (uint64, bool) {
	if CheckHash(r.PrevHash) != nil || CheckHash(r.Hash) != nil {
		return 0, false
	}
	for d := uint64(1); d <= reorderWindow; d++ {
		for _, t := range []uint64{r.Seq + d, r.Seq - d} {
			if t >= 1 && t <= r.Seq+reorderWindow && Hash(t, r.PrevHash, r.Entry) == r.Hash {
				return t, true
			}
		}
	}
	return 0, false
}

// same reports whether a and b are copies of one stored row.
func same(a, b Record) bool {
	return a.Seq == b.Seq && a.PrevHash == b.PrevHash && a.Hash == b.Hash && a.At.Equal(b.At) &&
		a.Actor == b.Actor && a.Event == b.Event && a.CommandID == b.CommandID && a.MeterID == b.MeterID && a.Detail == b.Detail
}
