package consumption

import (
	"math"
	"strconv"
	"time"

	"github.com/meterhouse/meterhouse/table"
)

// AppendJSON appends c as JSON to dst, byte for byte as encoding/json marshals it, and
// allocates nothing per point: a month of hourly points is appended to one buffer, which
// the handler reuses across requests.
func (c Consumption) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"meter_id":`...)
	dst = table.AppendJSONString(dst, c.MeterID)
	dst = append(dst, `,"step":`...)
	dst = table.AppendJSONString(dst, string(c.Step))
	if c.TZ != "" {
		dst = append(dst, `,"tz":`...)
		dst = table.AppendJSONString(dst, c.TZ)
	}
	if c.Source != "" {
		dst = append(dst, `,"source":`...)
		dst = table.AppendJSONString(dst, string(c.Source))
	}
	dst = append(dst, `,"unit":`...)
	dst = table.AppendJSONString(dst, c.Unit)
	if c.Points == nil {
		return append(dst, `,"points":null}`...)
	}
	dst = append(dst, `,"points":[`...)
	for i := range c.Points {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = c.Points[i].appendJSON(dst)
	}
	return append(dst, "]}"...)
}

// appendJSON appends p as encoding/json marshals it.
func (p *Point) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"start":"`...)
	dst = p.Start.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","wh":`...)
	dst = strconv.AppendInt(dst, p.Wh, 10)
	if p.Quality != nil {
		dst = append(dst, `,"quality":`...)
		dst = strconv.AppendUint(dst, uint64(*p.Quality), 10)
	}
	for _, f := range [...]struct {
		name string
		v    *uint32
	}{{`,"estimated":`, p.Estimated}, {`,"edited":`, p.Edited}, {`,"questionable":`, p.Questionable}} {
		if f.v != nil {
			dst = append(dst, f.name...)
			dst = strconv.AppendUint(dst, uint64(*f.v), 10)
		}
	}
	if p.Completeness != nil {
		dst = append(dst, `,"completeness":`...)
		dst = appendJSONFloat(dst, *p.Completeness)
	}
	return append(dst, '}')
}

// appendJSONFloat appends f as encoding/json writes a float64: the shortest
// representation, in exponent form below 1e-6 and from 1e21 on, with a one-digit exponent
// kept at one digit. Completeness is finite by construction; a non-finite value, which
// encoding/json refuses, is written as null.
func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as encoding/json writes it.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
