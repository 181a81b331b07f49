package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/api"
	"github.com/meterhouse/meterhouse/control/audit"
	"github.com/meterhouse/meterhouse/internal/testenv"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// entry returns an entry numbered i, at a time with nanoseconds.
func entry(i int) audit.Entry {
	return audit.Entry{At: time.Date(2026, 12, 1, 9, 0, i, 987654321, time.UTC), Actor: fmt.Sprintf("operator-%d", i%3),
		Event: "requested", CommandID: fmt.Sprintf("cmd-%d", i), MeterID: "MTR-000001", Detail: fmt.Sprintf("disconnect, reason %d", i)}
}

// kafkaAnchor returns an anchor on a fresh topic.
func kafkaAnchor(t *testing.T) *audit.KafkaAnchor {
	topic := testenv.Topics(t, []int{1}, "audit-anchors")[0]
	a, err := audit.NewKafkaAnchor(testenv.Kafka(), topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func open(t *testing.T, conn driver.Conn, anchor audit.Anchor) *audit.Log {
	t.Helper()
	l, err := audit.Open(ctx(t), conn, testenv.PrivateDatabase(t, conn), anchor)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAppendVerifyRestart(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	anchor := &audit.MemoryAnchor{}
	l := open(t, conn, anchor)
	if err := l.Append(ctx(t), entry(1), entry(2)); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx(t), entry(3)); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx(t))
	if err != nil || !rep.OK() || rep.Head.Seq != 3 || rep.Entries != 3 {
		t.Fatalf("verify: %+v, %v; want OK at seq 3", rep, err)
	}
	// The stored entries are the appended ones, to the nanosecond.
	var at time.Time
	var ns uint32
	var detail string
	if err := conn.QueryRow(ctx(t), "SELECT at, at_ns, detail FROM "+l.Name()+".control_audit WHERE seq = 2").Scan(&at, &ns, &detail); err != nil {
		t.Fatal(err)
	}
	if got := time.Unix(at.Unix(), int64(ns)).UTC(); !got.Equal(entry(2).At) || detail != entry(2).Detail {
		t.Errorf("entry 2 stored as %s %q, want %s %q", got, detail, entry(2).At, entry(2).Detail)
	}
	// A bad entry is refused whole, naming its field.
	if err := l.Append(ctx(t), entry(4), audit.Entry{At: time.Now(), Actor: "x"}); err == nil || !strings.Contains(err.Error(), "event") {
		t.Errorf("entry without event: %v", err)
	}
	// Opened again (a restart), the log continues the chain.
	l2 := open(t, conn, anchor)
	if h, err := l2.Head(ctx(t)); err != nil || h.Seq != 3 || h.Hash != rep.Head.Hash {
		t.Fatalf("reopened head %+v, %v; want %+v", h, err, rep.Head)
	}
	if err := l2.Append(ctx(t), entry(4), entry(5)); err != nil {
		t.Fatal(err)
	}
	if _, err := l2.Anchor(ctx(t)); err != nil {
		t.Fatal(err)
	}
	rep, err = audit.Verify(ctx(t), conn, l.Name(), anchor)
	if err != nil || !rep.OK() || rep.Head.Seq != 5 || rep.Anchor == nil || rep.Anchor.Seq != 5 {
		t.Fatalf("verify after restart: %+v, %v", rep, err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	l := open(t, conn, &audit.MemoryAnchor{})
	const writers, calls = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*calls)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range calls {
				var es []audit.Entry
				for i := range 1 + (w+c)%3 {
					e := entry(i)
					e.Detail = fmt.Sprintf("%d/%d/%d", w, c, i)
					es = append(es, e)
				}
				if err := l.Append(ctx(t), es...); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx(t))
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	var total uint64
	for w := range writers {
		for c := range calls {
			total += uint64(1 + (w+c)%3)
		}
	}
	if rep.Head.Seq != total || rep.Entries != total {
		t.Errorf("head %d, %d entries; want %d", rep.Head.Seq, rep.Entries, total)
	}
	// Each call's entries are consecutive and in order.
	rows, err := conn.Query(ctx(t), "SELECT detail FROM "+l.Name()+".control_audit ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var details []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		details = append(details, d)
	}
	for i, d := range details {
		var w, c, k int
		fmt.Sscanf(d, "%d/%d/%d", &w, &c, &k)
		if k > 0 && (i == 0 || details[i-1] != fmt.Sprintf("%d/%d/%d", w, c, k-1)) {
			t.Errorf("entry %d (%s) does not follow its call's entry %d", i+1, d, k-1)
		}
	}
}

// columns are control_audit's columns, in the order tamper's SELECT gives them.
const columns = "seq, at, at_ns, actor, event, command_id, meter_id, detail, prev_hash, hash"

// tamper replaces the log's table by a new one filled with INSERT … SELECT from pristine
// (the untouched log), the way someone with write access to ClickHouse could rewrite it.
func tamper(t *testing.T, conn driver.Conn, db, selectSQL string) {
	t.Helper()
	for _, q := range []string{
		"DROP TABLE IF EXISTS " + db + ".control_audit",
		"CREATE TABLE " + db + ".control_audit AS " + db + ".pristine",
		"INSERT INTO " + db + ".control_audit (" + columns + ") " + selectSQL,
	} {
		if err := conn.Exec(ctx(t), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

type found struct {
	Seq  uint64
	Kind string
}

func TestTamperingDetected(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	anchor := kafkaAnchor(t)
	l := open(t, conn, anchor)
	db := l.Name()
	for i := 1; i <= 8; i++ {
		if err := l.Append(ctx(t), entry(i)); err != nil {
			t.Fatal(err)
		}
		if i == 4 {
			if _, err := l.Anchor(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	head, err := l.Anchor(ctx(t))
	if err != nil || head.Seq != 8 {
		t.Fatalf("anchor: %+v, %v", head, err)
	}
	// Another log's anchors on the same topic are not this log's.
	if err := anchor.Publish(ctx(t), audit.Head{Log: "other_private", Seq: 99, Hash: audit.ZeroHash, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	hs, err := anchor.Latest(ctx(t), db, 10)
	if err != nil || len(hs) != 2 || hs[0].Seq != 4 || hs[1].Seq != 8 || hs[1].Hash != head.Hash {
		t.Fatalf("latest anchors %+v, %v; want those of seq 4 and 8", hs, err)
	}
	if err := conn.Exec(ctx(t), "CREATE TABLE "+db+".pristine AS "+db+".control_audit"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx(t), "INSERT INTO "+db+".pristine ("+columns+") SELECT "+columns+" FROM "+db+".control_audit"); err != nil {
		t.Fatal(err)
	}
	all := "SELECT " + columns + " FROM " + db + ".pristine"
	for _, tc := range []struct {
		name   string
		sql    string
		insert string // an extra row, inserted after the rewrite
		want   []found
	}{
		{"untouched", all, "", nil},
		{"edited", "SELECT seq, at, at_ns, actor, event, command_id, meter_id, if(seq = 3, 'reconnect, paid', detail) AS detail, prev_hash, hash FROM " +
			db + ".pristine", "", []found{{3, audit.KindEdited}}},
		{"reordered", "SELECT multiIf(seq = 5, toUInt64(6), seq = 6, toUInt64(5), seq) AS seq, at, at_ns, actor, event, command_id, meter_id, detail, prev_hash, hash FROM " +
			db + ".pristine", "", []found{{5, audit.KindReordered}, {6, audit.KindReordered}}},
		{"removed", all + " WHERE seq != 2", "", []found{{2, audit.KindMissing}}},
		{"cut off", all + " WHERE seq <= 6", "", []found{{7, audit.KindTruncated}}},
		{"inserted beside", all, "INSERT INTO " + db + ".control_audit (" + columns + ") SELECT seq, at, at_ns, 'supervisor-x', event, command_id, meter_id, detail, prev_hash, hash FROM " +
			db + ".pristine WHERE seq = 7", []found{{7, audit.KindDuplicate}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tamper(t, conn, db, tc.sql)
			if tc.insert != "" {
				if err := conn.Exec(ctx(t), tc.insert); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := audit.Verify(ctx(t), conn, db, anchor)
			if err != nil {
				t.Fatal(err)
			}
			var got []found
			for _, p := range rep.Problems {
				got = append(got, found{p.Seq, p.Kind})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems %v, want %v", rep.Problems, tc.want)
			}
			if rep.Anchors != 2 || rep.Anchor == nil || rep.Anchor.Seq != 8 {
				t.Errorf("compared with %d anchors, latest %+v; want 2, seq 8", rep.Anchors, rep.Anchor)
			}
		})
	}
}

func TestVerifyRoute(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	l := open(t, conn, &audit.MemoryAnchor{})
	if err := l.Append(ctx(t), entry(1), entry(2), entry(3)); err != nil {
		t.Fatal(err)
	}
	srv, token := testenv.API(t, conn)
	if err := l.Register(srv); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo())
	defer hs.Close()
	get := func(tok string) (int, map[string]any) {
		r := testenv.Do(t, testenv.Request{Method: http.MethodGet, URL: hs.URL + "/v1/admin/audit/verify", Token: tok})
		var body map[string]any
		_ = json.Unmarshal(r.Body, &body)
		return r.Status, body
	}
	admin := token(api.RoleAdmin)
	if code, body := get(admin); code != 200 || body["ok"] != true || body["head"].(map[string]any)["seq"] != 3.0 {
		t.Fatalf("verify: %d %v", code, body)
	}
	if code, _ := get(token(api.RoleSupervisor, api.RoleOperator)); code != http.StatusForbidden {
		t.Errorf("supervisor: %d, want 403", code)
	}
	if err := conn.Exec(ctx(t), "INSERT INTO "+l.Name()+".control_audit ("+columns+") SELECT seq, at, at_ns, actor, event, command_id, meter_id, 'forged', prev_hash, hash FROM "+
		l.Name()+".control_audit WHERE seq = 2"); err != nil {
		t.Fatal(err)
	}
	code, body := get(admin)
	ps, _ := body["problems"].([]any)
	if code != 200 || body["ok"] != false || len(ps) != 1 || ps[0].(map[string]any)["seq"] != 2.0 {
		t.Errorf("after an inserted row: %d %v", code, body)
	}
}

// TestAppendAfterFailedInsert checks that after a failed insert, whose outcome the log
// cannot know, the next Append reads the stored head again instead of trusting its own.
func TestAppendAfterFailedInsert(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	l := open(t, conn, &audit.MemoryAnchor{})
	db := l.Name()
	if err := l.Append(ctx(t), entry(1), entry(2)); err != nil {
		t.Fatal(err)
	}
	other := open(t, conn, &audit.MemoryAnchor{})
	if err := conn.Exec(ctx(t), "RENAME TABLE "+db+".control_audit TO "+db+".hidden"); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx(t), entry(3)); err == nil {
		t.Fatal("append to a missing table succeeded")
	}
	if err := conn.Exec(ctx(t), "RENAME TABLE "+db+".hidden TO "+db+".control_audit"); err != nil {
		t.Fatal(err)
	}
	// Stored meanwhile, as if the failed insert had landed.
	if err := other.Append(ctx(t), entry(3)); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx(t), entry(4)); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx(t))
	if err != nil || !rep.OK() || rep.Head.Seq != 4 {
		t.Fatalf("verify: %+v, %v; want OK at seq 4", rep, err)
	}
	// A call whose context has ended stores nothing.
	done, cancel := context.WithCancel(ctx(t))
	cancel()
	if err := l.Append(done, entry(5)); !errors.Is(err, context.Canceled) {
		t.Errorf("append with an ended context: %v", err)
	}
	if h, err := l.Head(ctx(t)); err != nil || h.Seq != 4 {
		t.Errorf("head %+v, %v; want seq 4", h, err)
	}
}

// TestRunAnchors checks that the head is published once entries were appended, and again
// after KeepAnchor without any.
func TestRunAnchors(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	anchor := &audit.MemoryAnchor{}
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l, err := audit.Open(ctx(t), conn, testenv.PrivateDatabase(t, conn), anchor, audit.WithClock(clock), audit.WithLogger(testenv.Logger(t)))
	if err != nil {
		t.Fatal(err)
	}
	run, stop := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() { done <- l.RunAnchors(run, 5*time.Millisecond) }()
	// waitFor waits until n anchors were published and returns the last.
	waitFor := func(n int) audit.Head {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if hs, _ := anchor.Latest(ctx(t), l.Name(), 100); len(hs) >= n {
				return hs[len(hs)-1]
			}
		}
		t.Fatalf("fewer than %d anchors published", n)
		return audit.Head{}
	}
	if err := l.Append(ctx(t), entry(1), entry(2)); err != nil {
		t.Fatal(err)
	}
	if h := waitFor(1); h.Seq != 2 || !h.At.Equal(now) {
		t.Errorf("first anchor %+v, want seq 2 at %s", h, now)
	}
	if err := l.Append(ctx(t), entry(3)); err != nil {
		t.Fatal(err)
	}
	if h := waitFor(2); h.Seq != 3 {
		t.Errorf("second anchor %+v, want seq 3", h)
	}
	mu.Lock()
	now = now.Add(audit.KeepAnchor)
	mu.Unlock()
	if h := waitFor(3); h.Seq != 3 || !h.At.Equal(now) {
		t.Errorf("kept anchor %+v, want seq 3 again at %s", h, now)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("RunAnchors: %v", err)
	}
	hs, _ := anchor.Latest(ctx(t), l.Name(), 100)
	if len(hs) != 3 {
		t.Errorf("%d anchors published, want 3 (an unchanged head within KeepAnchor is not republished): %+v", len(hs), hs)
	}
}

// TestVerifyInRanges checks that Verify reads the log a range of seq at a time, across
// range boundaries, and skips the empty ranges up to a row numbered far beyond the others.
func TestVerifyInRanges(t *testing.T) {
	defer audit.SetVerifyChunk(3)()
	_, conn := testenv.ClickHouse(t)
	l := open(t, conn, &audit.MemoryAnchor{})
	for i := 1; i <= 7; i++ {
		if err := l.Append(ctx(t), entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := l.Verify(ctx(t)); err != nil || !rep.OK() || rep.Entries != 7 || rep.Head.Seq != 7 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	far := uint64(1) << 62
	if err := conn.Exec(ctx(t), fmt.Sprintf("INSERT INTO %s.control_audit (%s) SELECT %d, at, at_ns, actor, event, command_id, meter_id, detail, prev_hash, hash FROM %s.control_audit WHERE seq = 7",
		l.Name(), columns, far, l.Name())); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx(t), conn, l.Name(), &audit.MemoryAnchor{})
	if err != nil {
		t.Fatal(err)
	}
	var got []found
	for _, p := range rep.Problems {
		got = append(got, found{p.Seq, p.Kind})
	}
	if want := []found{{8, audit.KindMissing}, {far, audit.KindEdited}}; !slices.Equal(got, want) || rep.Entries != 8 {
		t.Errorf("problems %v (%d entries), want %v", rep.Problems, rep.Entries, want)
	}
}
