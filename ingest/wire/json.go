package wire

import (
	"strconv"
	"time"

	"github.com/meterhouse/meterhouse/schema"
)

// AppendJSON appends the JSON message form of r to dst and returns the extended slice:
// {"meter_id":"…","ts":"RFC 3339","register_wh":int}, with "quality":int after them when
// r.Quality is not 0 (absent means 0). Meter ids need no escaping because their alphabet
// has no character JSON escapes; the caller must pass a valid id.
func AppendJSON(dst []byte, r schema.Reading) []byte {
	dst = append(dst, `{"`+FieldMeterID+`":"`...)
	dst = append(dst, r.MeterID...)
	dst = append(dst, `","`+FieldTS+`":"`...)
	dst = r.TS.UTC().AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","`+FieldRegisterWh+`":`...)
	dst = strconv.AppendInt(dst, r.RegisterWh, 10)
	if r.Quality != 0 {
		dst = append(dst, `,"`+FieldQuality+`":`...)
		dst = strconv.AppendUint(dst, uint64(r.Quality), 10)
	}
	return append(dst, '}')
}
