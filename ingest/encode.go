package ingest

import (
	"strconv"
	"time"

	"github.com/meterhouse/meterhouse/schema"
)

// AppendJSON appends the JSON message form of r to dst and returns the extended slice:
// {"meter_id":"…","ts":"RFC 3339","register_wh":int}. Meter ids need no escaping because
// their alphabet has no character JSON escapes; the caller must pass a valid id.
func AppendJSON(dst []byte, r schema.Reading) []byte {
	dst = append(dst, `{"meter_id":"`...)
	dst = append(dst, r.MeterID...)
	dst = append(dst, `","ts":"`...)
	dst = r.TS.UTC().AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","register_wh":`...)
	dst = strconv.AppendInt(dst, r.RegisterWh, 10)
	return append(dst, '}')
}
