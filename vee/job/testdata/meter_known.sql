SELECT (SELECT count() FROM meters WHERE meter_id = ?) + (SELECT count() FROM readings WHERE meter_id = ?)
