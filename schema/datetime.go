package schema

import "time"

// MinDateTime is the earliest instant a ClickHouse DateTime column holds.
var MinDateTime = time.Unix(0, 0).UTC()

// MaxDateTime is the latest instant a ClickHouse DateTime column holds.
var MaxDateTime = time.Unix(1<<32-1, 0).UTC()
