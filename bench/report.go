package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// ceilingName names the reference ceiling's result: one clickhouse-client inserting a
// Native file. Ratios to the ceiling are to it.
const ceilingName = "ceiling"

// measurement is what one timed phase observed.
type measurement struct {
	// Readings is how many readings the phase stored.
	Readings int64
	// Elapsed is the phase's wall time.
	Elapsed time.Duration
	// FirstRow is how long after the phase's start the first reading was visible; zero
	// when not observed (the ceiling).
	FirstRow time.Duration
	// CPU is the user plus system CPU time of the measured process during the phase.
	CPU time.Duration
	// PeakRSS is the measured process's peak resident memory during the phase, in bytes.
	PeakRSS int64
	// Services is the CPU time each local service (clickhouse, kafka) used during the
	// phase, whatever it served: other clients of a shared service count too.
	Services map[string]time.Duration
}

// result is one row of the report.
type result struct {
	// Name is "ceiling" or the message format.
	Name string `json:"name"`
	// Process names the process whose CPU and memory are reported.
	Process string `json:"process"`
	// Readings is how many readings were stored.
	Readings int64 `json:"readings"`
	// Seconds is the wall time from start until every reading was visible.
	Seconds float64 `json:"seconds"`
	// FirstRowSeconds is when the first reading was visible (ingest only).
	FirstRowSeconds float64 `json:"first_row_seconds,omitempty"`
	// ReadingsPerSecond is Readings / Seconds.
	ReadingsPerSecond float64 `json:"readings_per_second"`
	// RatioToCeiling is ReadingsPerSecond over the reference ceiling's (one
	// clickhouse-client); 0 without a ceiling.
	RatioToCeiling float64 `json:"ratio_to_ceiling"`
	// RatioToBestCeiling is ReadingsPerSecond over the fastest ceiling measured (with
	// --ceiling-clients 1,2 …, parallel clients may beat one); 0 without a ceiling.
	RatioToBestCeiling float64 `json:"ratio_to_best_ceiling"`
	// Target is the ratio to the ceiling the format should reach; 0 when none is set.
	Target float64 `json:"target,omitempty"`
	// TargetMet says whether RatioToBestCeiling, the stricter ratio, reached Target.
	TargetMet bool `json:"target_met,omitempty"`
	// CPUSeconds is the process's CPU time during the phase.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUSecondsPerMillion is CPUSeconds per million readings.
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million"`
	// PeakRSSBytes is the process's peak resident memory during the phase.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// ServiceCPUSecondsPerMillion is, per local service (clickhouse, kafka), its CPU time
	// during the phase per million readings.
	ServiceCPUSecondsPerMillion map[string]float64 `json:"service_cpu_seconds_per_million,omitempty"`
}

// newResult derives the rates of m.
func newResult(name, process string, m measurement) result {
	r := result{
		Name:            name,
		Process:         process,
		Readings:        m.Readings,
		Seconds:         m.Elapsed.Seconds(),
		FirstRowSeconds: m.FirstRow.Seconds(),
		CPUSeconds:      m.CPU.Seconds(),
		PeakRSSBytes:    m.PeakRSS,
	}
	if r.Seconds > 0 {
		r.ReadingsPerSecond = float64(m.Readings) / r.Seconds
	}
	if m.Readings > 0 {
		millions := float64(m.Readings) / 1e6
		r.CPUSecondsPerMillion = r.CPUSeconds / millions
		for name, d := range m.Services {
			if r.ServiceCPUSecondsPerMillion == nil {
				r.ServiceCPUSecondsPerMillion = map[string]float64{}
			}
			r.ServiceCPUSecondsPerMillion[name] = d.Seconds() / millions
		}
	}
	return r
}

// targets are the ratios to the ceiling each message format should reach on the
// reference machine: Arrow batch messages 0.6 (issue 4), one JSON reading per message 0.6
// (issue 13, raised from issue 4's 0.3).
var targets = map[string]float64{"arrow": 0.6, "json": 0.6}

// report is the outcome of one bench ingest run.
type report struct {
	// Readings and Meters are the simulated workload.
	Readings int64 `json:"readings"`
	Meters   int   `json:"meters"`
	// Partitions, Consumers and BatchRows are the ingest settings measured.
	Partitions int `json:"partitions"`
	Consumers  int `json:"consumers"`
	BatchRows  int `json:"batch_rows"`
	// ArrowBatch is the readings per Arrow message.
	ArrowBatch int `json:"arrow_batch,omitempty"`
	// CPUs is the machine's logical CPU count; GoVersion the toolchain.
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	// ClickHouse is the server's version.
	ClickHouse string `json:"clickhouse"`
	// Started is when the run began.
	Started time.Time `json:"started"`
	// Results holds the ceiling first (when measured), then each message format.
	Results []result `json:"results"`
}

// add appends r, setting its ratios to the reference and to the best ceiling added so far
// and, when there is a ceiling, its target. Ceilings are added before the formats.
func (rp *report) add(r result) {
	best := 0.0
	for _, c := range append(rp.Results, r) {
		if c.Name == ceilingName || strings.HasPrefix(c.Name, ceilingName+"-") {
			best = max(best, c.ReadingsPerSecond)
		}
		if c.Name == ceilingName && c.ReadingsPerSecond > 0 {
			r.RatioToCeiling = r.ReadingsPerSecond / c.ReadingsPerSecond
		}
	}
	if best > 0 {
		r.RatioToBestCeiling = r.ReadingsPerSecond / best
	}
	if t, ok := targets[r.Name]; ok && r.RatioToBestCeiling > 0 {
		r.Target = t
		r.TargetMet = r.RatioToBestCeiling >= t
	}
	rp.Results = append(rp.Results, r)
}

// writeJSON writes rp as an indented JSON document.
func (rp *report) writeJSON(w io.Writer) error { return writeJSONDoc(w, rp) }

// writeJSONDoc writes v as an indented JSON document.
func writeJSONDoc(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // targets read "p99 <= 10ms", not "p99 \u003c= 10ms"
	return enc.Encode(v)
}

// writeTable writes rp as an aligned text table preceded by a line naming the workload.
func (rp *report) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "%d readings, %d meters; %d partitions, %d consumers, batch %d rows; %d CPUs, %s, ClickHouse %s\n",
		rp.Readings, rp.Meters, rp.Partitions, rp.Consumers, rp.BatchRows, rp.CPUs, rp.GoVersion, rp.ClickHouse)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\treadings\tseconds\treadings/s\tx ceiling\tx best ceiling\ttarget\tCPU s/M\tpeak RSS MiB\tfirst row s\tClickHouse CPU s/M\tKafka CPU s/M\tprocess\t")
	for _, r := range rp.Results {
		target := "-"
		if r.Target > 0 {
			verdict := "missed"
			if r.TargetMet {
				verdict = "met"
			}
			target = fmt.Sprintf("%.2f %s", r.Target, verdict)
		}
		first := "-"
		if r.FirstRowSeconds > 0 {
			first = fmt.Sprintf("%.2f", r.FirstRowSeconds)
		}
		ratio, best := "-", "-"
		if r.RatioToCeiling > 0 {
			ratio = fmt.Sprintf("%.2f", r.RatioToCeiling)
		}
		if r.RatioToBestCeiling > 0 {
			best = fmt.Sprintf("%.2f", r.RatioToBestCeiling)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%s\t%s\t%s\t%s\t%.2f\t%.0f\t%s\t%s\t%s\t%s\t\n",
			r.Name, r.Readings, r.Seconds, thousands(r.ReadingsPerSecond), ratio, best, target,
			r.CPUSecondsPerMillion, float64(r.PeakRSSBytes)/(1<<20), first,
			serviceCPU(r, "clickhouse"), serviceCPU(r, "kafka"), r.Process)
	}
	return tw.Flush()
}

// serviceCPU formats the CPU seconds per million readings of service name, or "-".
func serviceCPU(r result, name string) string {
	if v, ok := r.ServiceCPUSecondsPerMillion[name]; ok {
		return fmt.Sprintf("%.2f", v)
	}
	return "-"
}

// thousands formats v rounded to a whole number with a space between groups of three
// digits, like 1 234 567.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}
