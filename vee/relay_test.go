package vee

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// change returns a relay change at t.
func change(t time.Time, s RelayState) RelayChange {
	return RelayChange{At: t, State: s, Source: "command", CommandID: "c1"}
}

func TestRelayOpen(t *testing.T) {
	const F, T = false, true
	tests := []struct {
		name    string
		changes []RelayChange
		want    []bool
	}{
		{"no history: connected", nil, []bool{F, F, F, F}},
		{"disconnect and reconnect on the grid",
			[]RelayChange{change(at(1), RelayDisconnected), change(at(3), RelayConnected)}, []bool{F, T, T, F}},
		{"order does not matter",
			[]RelayChange{change(at(3), RelayConnected), change(at(1), RelayDisconnected)}, []bool{F, T, T, F}},
		{"disconnected before the window",
			[]RelayChange{change(at(-50), RelayDisconnected)}, []bool{T, T, T, T}},
		{"a slot the relay opens in was partly supplied",
			[]RelayChange{change(at(1).Add(5*time.Minute), RelayDisconnected)}, []bool{F, F, T, T}},
		{"a slot the relay closes in was partly supplied",
			[]RelayChange{change(at(0), RelayDisconnected), change(at(2).Add(time.Minute), RelayConnected)}, []bool{T, T, F, F}},
		{"armed is open, then closed by the customer",
			[]RelayChange{change(at(0), RelayDisconnected), change(at(1), RelayArmed), change(at(3), RelayConnected)}, []bool{T, T, T, F}},
		{"a connect reported before the disconnect at the same instant: open wins",
			[]RelayChange{change(at(2), RelayDisconnected), change(at(2), RelayConnected)}, []bool{F, F, T, T}},
		{"reconnected before the window",
			[]RelayChange{change(at(-9), RelayDisconnected), change(at(-1), RelayConnected)}, []bool{F, F, F, F}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RelayOpen(tt.changes, t0, q15, 4); !slices.Equal(got, tt.want) {
				t.Errorf("RelayOpen = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseRelayState(t *testing.T) {
	for _, s := range []RelayState{RelayConnected, RelayDisconnected, RelayArmed} {
		got, err := ParseRelayState(s.String())
		if err != nil || got != s {
			t.Errorf("ParseRelayState(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseRelayState("open"); err == nil || !strings.Contains(err.Error(), "relay.state") {
		t.Errorf("ParseRelayState(open) = %v, want an error naming relay.state", err)
	}
	in := input(1, regs(0, 1))
	in.Relay = []RelayChange{{At: t0, State: 7}}
	if _, err := Process(in, quiet(), at(10)); err == nil || !strings.Contains(err.Error(), "relay.state") {
		t.Errorf("Process with relay state 7 = %v, want an error naming relay.state", err)
	}
}

const cwd = RuleConsumptionWhileDisconnected

func TestConsumptionWhileDisconnected(t *testing.T) {
	// Disconnected from 1 to 3 (slots 1 and 2 open throughout).
	onOff := []RelayChange{change(at(1), RelayDisconnected), change(at(3), RelayConnected)}
	tests := []struct {
		name      string
		in        Input
		rules     func(*RuleSet)
		wantWh    []int64
		wantQ     []Quality
		wantFlags []string
	}{
		{name: "energy while disconnected is flagged",
			in:     relayInput(4, regs(1000, 1100, 1150, 1150, 1250), onOff),
			wantWh: []int64{100, 50, 0, 100}, wantQ: []Quality{0, 10, 0, 0},
			wantFlags: []string{"", cwd, "", ""}},
		{name: "without relay history nothing is flagged",
			in:     input(4, regs(1000, 1100, 1150, 1150, 1250)),
			wantWh: []int64{100, 50, 0, 100}, wantQ: []Quality{0, 0, 0, 0},
			wantFlags: []string{"", "", "", ""}},
		{name: "within the tolerance",
			in:     relayInput(4, regs(1000, 1100, 1103, 1103, 1250), onOff),
			rules:  func(r *RuleSet) { r.ConsumptionWhileDisconnected.ToleranceWh = 3 },
			wantWh: []int64{100, 3, 0, 147}, wantQ: []Quality{0, 0, 0, 0},
			wantFlags: []string{"", "", "", ""}},
		{name: "above the tolerance",
			in:     relayInput(4, regs(1000, 1100, 1104, 1104, 1250), onOff),
			rules:  func(r *RuleSet) { r.ConsumptionWhileDisconnected.ToleranceWh = 3 },
			wantWh: []int64{100, 4, 0, 146}, wantQ: []Quality{0, 10, 0, 0},
			wantFlags: []string{"", cwd, "", ""}},
		{name: "rule disabled",
			in:     relayInput(4, regs(1000, 1100, 1150, 1150, 1250), onOff),
			rules:  func(r *RuleSet) { r.ConsumptionWhileDisconnected.Enabled = false },
			wantWh: []int64{100, 50, 0, 100}, wantQ: []Quality{0, 0, 0, 0},
			wantFlags: []string{"", "", "", ""}},
		// The relay opens 10 minutes into slot 1: its energy was supplied before.
		{name: "the slot the relay opens in is not flagged",
			in:     relayInput(3, regs(1000, 1100, 1150, 1160), []RelayChange{change(at(1).Add(10*time.Minute), RelayDisconnected)}),
			wantWh: []int64{100, 50, 10}, wantQ: []Quality{0, 0, 10},
			wantFlags: []string{"", "", cwd}},
		{name: "armed is open too",
			in:     relayInput(2, regs(1000, 1000, 1020), []RelayChange{change(at(-3), RelayArmed)}),
			wantWh: []int64{0, 20}, wantQ: []Quality{0, 10},
			wantFlags: []string{"", cwd}},
		// The whole gap was disconnected but the register moved: recorded, not invented,
		// so it is spread as usual (conserving the registers) and flagged.
		{name: "a gap wholly disconnected whose registers moved",
			in:     relayInput(4, regs(1000, 1000, skip, 1040, 1040), []RelayChange{change(at(0), RelayDisconnected)}),
			wantWh: []int64{0, 20, 20, 0}, wantQ: []Quality{0, 9, 9, 0},
			wantFlags: []string{"", miss + "," + cwd, miss + "," + cwd, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := quiet()
			if tt.rules != nil {
				tt.rules(&rules)
			}
			out, err := Process(tt.in, rules, at(100))
			if err != nil {
				t.Fatal(err)
			}
			if got := whs(out); !slices.Equal(got, tt.wantWh) {
				t.Errorf("Wh = %v, want %v", got, tt.wantWh)
			}
			if got := quals(out); !slices.Equal(got, tt.wantQ) {
				t.Errorf("quality = %v, want %v", got, tt.wantQ)
			}
			if got := flagNames(out); !slices.Equal(got, tt.wantFlags) {
				t.Errorf("flags = %q, want %q", got, tt.wantFlags)
			}
		})
	}
}

func relayInput(n int, rs []Reading, relay []RelayChange) Input {
	in := input(n, rs)
	in.Relay = relay
	return in
}

func TestConsumptionWhileDisconnectedReason(t *testing.T) {
	in := relayInput(2, regs(1000, 1000, 1020), []RelayChange{{At: at(-3), State: RelayDisconnected, Source: "command", CommandID: "abc"}})
	out, err := Process(in, quiet(), at(100))
	if err != nil {
		t.Fatal(err)
	}
	want := "20 Wh measured while the relay disconnected since 2025-03-02T23:15:00Z (command abc) (tolerance 0 Wh): possible tamper or bypass"
	if got := out.Intervals[1].Flags; len(got) != 1 || got[0].Reason != want || got[0].Severity != SeverityQuestionable {
		t.Errorf("flags = %+v, want one questionable flag with reason %q", got, want)
	}
	in.Relay[0].Source, in.Relay[0].CommandID = "event", ""
	out, err = Process(in, quiet(), at(100))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Intervals[1].Flags[0].Reason; !strings.Contains(got, "relay disconnected since 2025-03-02T23:15:00Z (event)") {
		t.Errorf("reason of an event = %q", got)
	}
}

func TestRelayZeroEstimates(t *testing.T) {
	const relayZero = "missing,estimation"
	tests := []struct {
		name   string
		in     Input
		wantWh []int64
		wantQ  []Quality
	}{
		// 400 Wh across a gap of 6 slots, the relay open over slots 2 and 3: the
		// connected part (0, 1, 4, 5) shares it; the registers are conserved.
		{name: "a gap spanning a disconnect and a reconnect fills only the connected part",
			in: relayInput(7, regs(1000, skip, skip, skip, skip, skip, 1400, 1500),
				[]RelayChange{change(at(2), RelayDisconnected), change(at(4), RelayConnected)}),
			wantWh: []int64{100, 100, 0, 0, 100, 100, 100}, wantQ: []Quality{9, 9, 16, 16, 9, 9, 0}},
		{name: "without relay history the whole gap shares it",
			in:     input(7, regs(1000, skip, skip, skip, skip, skip, 1400, 1500)),
			wantWh: []int64{67, 67, 67, 67, 66, 66, 100}, wantQ: []Quality{9, 9, 9, 9, 9, 9, 0}},
		// Flat fill after the last reading would be 100 Wh; disconnected from 3 on.
		{name: "flat fill stops at the disconnect",
			in:     relayInput(5, regs(1000, 1100, 1200), []RelayChange{change(at(3), RelayDisconnected)}),
			wantWh: []int64{100, 100, 100, 0, 0}, wantQ: []Quality{0, 0, 16, 16, 16}},
		// Reconnected at 2: flat fill from the right begins there.
		{name: "flat fill begins at the reconnect",
			in: relayInput(4, []Reading{{TS: at(3), RegisterWh: 1000}, {TS: at(4), RegisterWh: 1080}},
				[]RelayChange{change(at(-5), RelayDisconnected), change(at(2), RelayConnected)}),
			wantWh: []int64{0, 0, 80, 80}, wantQ: []Quality{16, 16, 16, 0}},
		{name: "a gap wholly disconnected with equal registers is zeros",
			in:     relayInput(4, regs(1000, skip, skip, skip, 1000), []RelayChange{change(at(-1), RelayDisconnected)}),
			wantWh: []int64{0, 0, 0, 0}, wantQ: []Quality{16, 16, 16, 16}},
		// The like-day profile would put energy into every slot of a long gap.
		{name: "a long gap across a disconnect takes no like-day energy for it",
			in: func() Input {
				in := relayInput(12, regs(1000, skip, skip, skip, skip, skip, skip, skip, skip, skip, skip, 2200, 2200),
					[]RelayChange{change(at(0), RelayConnected), change(at(6), RelayDisconnected)})
				in.History = flatHistory(7*96, 50)
				return in
			}(),
			wantWh: []int64{200, 200, 200, 200, 200, 200, 0, 0, 0, 0, 0, 0},
			wantQ:  []Quality{8, 8, 8, 8, 8, 8, 16, 16, 16, 16, 16, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Process(tt.in, quiet(), at(100))
			if err != nil {
				t.Fatal(err)
			}
			if got := whs(out); !slices.Equal(got, tt.wantWh) {
				t.Errorf("Wh = %v, want %v", got, tt.wantWh)
			}
			if got := quals(out); !slices.Equal(got, tt.wantQ) {
				t.Errorf("quality = %v, want %v", got, tt.wantQ)
			}
			open := RelayOpen(tt.in.Relay, tt.in.From, q15, len(out.Intervals))
			for j, iv := range out.Intervals {
				if !open[j] || !iv.Estimated {
					continue
				}
				if got := ruleNames(iv.Flags); got != relayZero {
					t.Errorf("slot %d flags %q, want %q", j, got, relayZero)
				}
				if r := iv.Flags[len(iv.Flags)-1].Reason; !strings.Contains(r, "relay disconnected since") || !strings.Contains(r, "estimated 0 Wh") {
					t.Errorf("slot %d estimation reason %q", j, r)
				}
			}
		})
	}
}

func TestRelayOpenIntervalsAreNoZeroRun(t *testing.T) {
	// Two days of zeros: a zero run, unless the relay was open.
	vals := make([]int64, 2*96+1)
	for i := range vals {
		vals[i] = 5000
	}
	rules := quiet()
	in := input(2*96, regs(vals...))
	out, err := Process(in, rules, at(1000))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(flagNames(out), RuleZeroRun) {
		t.Fatalf("zeros while connected raise no zero run: %v", flagNames(out)[:3])
	}
	in.Relay = []RelayChange{change(at(-1), RelayDisconnected)}
	out, err = Process(in, rules, at(1000))
	if err != nil {
		t.Fatal(err)
	}
	for j, f := range flagNames(out) {
		if f != "" {
			t.Fatalf("slot %d flagged %q while disconnected with no consumption", j, f)
		}
	}
}

func TestRelayOpenDayIsNotLowUsage(t *testing.T) {
	vals := make([]int64, 97)
	for i := range vals {
		vals[i] = 5000 + int64(min(i, 10))*10 // 100 Wh in the first 10 intervals, then nothing
	}
	rules := DefaultRuleSet()
	rules.Spike.Enabled = false
	rules.ZeroRun.Enabled = false
	in := input(96, regs(vals...))
	in.History = flatHistory(7*96, 50)
	out, err := Process(in, rules, at(1000))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ruleNames(out.Intervals[50].Flags), RuleDailyUsage) {
		t.Fatalf("a low day while connected is not flagged: %v", ruleNames(out.Intervals[50].Flags))
	}
	in.Relay = []RelayChange{change(at(10), RelayDisconnected)}
	out, err = Process(in, rules, at(1000))
	if err != nil {
		t.Fatal(err)
	}
	if got := ruleNames(out.Intervals[50].Flags); got != "" {
		t.Fatalf("a day disconnected at 02:30 flagged %q", got)
	}
}
