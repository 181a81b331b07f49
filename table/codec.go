package table

import (
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The codecs of the column types: how one value is appended as JSON, as CSV cell text
// (before quoting) and to an Arrow builder. None allocates but the Arrow builders.

type stringCodec struct{}

func (stringCodec) appendJSON(dst []byte, v string) []byte { return AppendJSONString(dst, v) }

func (stringCodec) appendCSV(dst []byte, v string) []byte { return appendCSVText(dst, v) }

func (stringCodec) appendArrow(b array.Builder, v []string, valid []bool) {
	b.(*array.StringBuilder).AppendValues(v, valid)
}

type int64Codec struct{}

func (int64Codec) appendJSON(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

func (int64Codec) appendCSV(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

func (int64Codec) appendArrow(b array.Builder, v []int64, valid []bool) {
	b.(*array.Int64Builder).AppendValues(v, valid)
}

type uint64Codec struct{}

func (uint64Codec) appendJSON(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }

func (uint64Codec) appendCSV(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }

func (uint64Codec) appendArrow(b array.Builder, v []uint64, valid []bool) {
	b.(*array.Uint64Builder).AppendValues(v, valid)
}

// float64Codec writes non-finite floats as JSON null, and as NaN, +Inf or -Inf in CSV.
type float64Codec struct{}

func (float64Codec) appendJSON(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

func (float64Codec) appendCSV(dst []byte, v float64) []byte {
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

func (float64Codec) appendArrow(b array.Builder, v []float64, valid []bool) {
	b.(*array.Float64Builder).AppendValues(v, valid)
}

type boolCodec struct{}

func (boolCodec) appendJSON(dst []byte, v bool) []byte { return strconv.AppendBool(dst, v) }

func (boolCodec) appendCSV(dst []byte, v bool) []byte { return strconv.AppendBool(dst, v) }

func (boolCodec) appendArrow(b array.Builder, v []bool, valid []bool) {
	b.(*array.BooleanBuilder).AppendValues(v, valid)
}

// timeCodec writes instants in RFC 3339 UTC, and to Arrow as seconds since the epoch.
type timeCodec struct{}

func (timeCodec) appendJSON(dst []byte, v time.Time) []byte {
	dst = append(dst, '"')
	dst = v.UTC().AppendFormat(dst, time.RFC3339)
	return append(dst, '"')
}

func (timeCodec) appendCSV(dst []byte, v time.Time) []byte {
	return v.UTC().AppendFormat(dst, time.RFC3339)
}

func (timeCodec) appendArrow(b array.Builder, v []time.Time, valid []bool) {
	tb := b.(*array.TimestampBuilder)
	for i, t := range v {
		if valid != nil && !valid[i] {
			tb.AppendNull()
			continue
		}
		tb.Append(arrow.Timestamp(t.Unix()))
	}
}

// dateCodec writes the date of a time.Time as YYYY-MM-DD, and to Arrow as date32.
type dateCodec struct{}

func (dateCodec) appendJSON(dst []byte, v time.Time) []byte {
	dst = append(dst, '"')
	dst = v.AppendFormat(dst, time.DateOnly)
	return append(dst, '"')
}

func (dateCodec) appendCSV(dst []byte, v time.Time) []byte { return v.AppendFormat(dst, time.DateOnly) }

func (dateCodec) appendArrow(b array.Builder, v []time.Time, valid []bool) {
	db := b.(*array.Date32Builder)
	for i, t := range v {
		if valid != nil && !valid[i] {
			db.AppendNull()
			continue
		}
		db.Append(arrow.Date32FromTime(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)))
	}
}

// stringListCodec writes a list as a JSON array of strings, in CSV too.
type stringListCodec struct{}

func (stringListCodec) appendJSON(dst []byte, v []string) []byte {
	dst = append(dst, '[')
	for i, s := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, s)
	}
	return append(dst, ']')
}

func (c stringListCodec) appendCSV(dst []byte, v []string) []byte { return c.appendJSON(dst, v) }

func (stringListCodec) appendArrow(b array.Builder, v [][]string, valid []bool) {
	lb := b.(*array.ListBuilder)
	vb := lb.ValueBuilder().(*array.StringBuilder)
	for i, l := range v {
		if valid != nil && !valid[i] {
			lb.AppendNull()
			continue
		}
		lb.Append(true)
		vb.AppendValues(l, nil)
	}
}
