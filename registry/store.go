package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/meterhouse/meterhouse/fault"
	"github.com/meterhouse/meterhouse/schema"
)

// Store keeps the registry in ClickHouse: meter_versions and service_agreements in the
// platform database, agreement_customers in the private database, and the flattened
// current view in meters.
type Store struct {
	conn    driver.Conn
	private string
	now     func() time.Time
	// chunk is the most ids one query binds (chunkIDs; tests make it small).
	chunk int
	// mu serializes writes of this process, so that the checks against the stored
	// history (retire once, no overlap) see every earlier write. ClickHouse has no
	// transactions: two processes writing the same meter at once are not serialized.
	mu sync.Mutex
}

// NewStore returns a store over conn, a connection to the migrated platform database, and
// private, the name of its private database (schema.Config.PrivateDatabase).
func NewStore(conn driver.Conn, private string) (*Store, error) {
	if conn == nil {
		return nil, errors.New("registry: NewStore needs a ClickHouse connection")
	}
	if !schema.ValidMeterID([]byte(private)) {
		return nil, fmt.Errorf("registry: NewStore: %q is not a private database name", private)
	}
	return &Store{conn: conn, private: private, now: time.Now, chunk: chunkIDs}, nil
}

// epoch is what a Date column holds for "no date".
var epoch = time.Unix(0, 0).UTC()

// dateOf returns d's calendar date at midnight UTC, zero for the epoch.
func dateOf(d time.Time) time.Time {
	y, m, dd := d.Date()
	out := time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
	if out.Equal(epoch) {
		return time.Time{}
	}
	return out
}

// dateArg returns d for a Date column, the epoch for zero.
func dateArg(d time.Time) time.Time {
	if d.IsZero() {
		return epoch
	}
	return d
}

// stamp gives the versions of one write their Version, RecordedAt and Author.
func (s *Store) stamp(author string) func(i int) (uint64, time.Time, string) {
	now := s.now().UTC()
	base := uint64(now.UnixNano())
	return func(i int) (uint64, time.Time, string) { return base + uint64(i), now.Truncate(time.Second), author }
}

const insertMeterVersions = `INSERT INTO meter_versions (meter_id, valid_from, feeder, region, time_zone, status, version, recorded_at, author)`

// PutMeters stores new versions of meters (create, update, retire) written by author, then
// rewrites the meters' rows of the current view. The versions are checked against each
// meter's history (CheckMeterHistory) and a retirement against the agreements using the
// meter (CheckRetired), both fault.ErrConflict, and stored whole or not at all.
// It returns the versions stored.
func (s *Store) PutMeters(ctx context.Context, author string, vs []MeterVersion) ([]MeterVersion, error) {
	if len(vs) == 0 {
		return nil, fault.Invalid("body", "no meters to store")
	}
	for _, v := range vs {
		if err := v.Check(); err != nil {
			return nil, fmt.Errorf("meter %s: %w", v.MeterID, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := distinct(vs, func(v MeterVersion) string { return v.MeterID })
	stored, err := s.meterVersions(ctx, ids)
	if err != nil {
		return nil, err
	}
	stamp := s.stamp(author)
	out := make([]MeterVersion, len(vs))
	added := map[string][]MeterVersion{}
	for i, v := range vs {
		v.Version, v.RecordedAt, v.Author = stamp(i)
		out[i] = v
		added[v.MeterID] = append(added[v.MeterID], v)
	}
	var retiring []string
	for _, id := range ids {
		if err := CheckMeterHistory(stored[id], added[id]); err != nil {
			return nil, err
		}
		if _, ok := retiredFrom(added[id]); ok {
			retiring = append(retiring, id)
			stored[id] = append(stored[id], added[id]...)
		}
	}
	// A meter is retired only once no agreement uses it from that day: exchange the
	// meter or end the agreement first.
	if agreements, err := s.agreementsOn(ctx, retiring); err != nil {
		return nil, err
	} else if len(agreements) > 0 {
		vs, err := s.agreementsByID(ctx, agreements, false)
		if err != nil {
			return nil, err
		}
		if err := CheckRetired(vs, stored); err != nil {
			return nil, err
		}
	}
	err = s.batch(ctx, insertMeterVersions, len(out), func(i int) []any {
		v := out[i]
		return []any{v.MeterID, v.ValidFrom, v.Feeder, v.Region, v.TimeZone, string(v.Status), v.Version, v.RecordedAt, v.Author}
	})
	if err != nil {
		return nil, fmt.Errorf("store meters: %w", err)
	}
	return out, s.writeCurrent(ctx, ids)
}

const (
	insertAgreements = `INSERT INTO service_agreements (agreement_id, account_id, service_point_id, meter_id, tariff, customer_class,
cycle_day, cycle_calendar, start_date, end_date, valid_from, version, recorded_at, author)`
	insertCustomers = `INSERT INTO %s.agreement_customers (agreement_id, valid_from, version, customer_name, address, life_support, notice_date)`
)

// PutAgreements stores new versions of service agreements written by author, then
// rewrites the current view's rows of every meter they use or used. Each version's meter
// must be in the registry and not retired on the days it is used, and no two agreements may
// use one meter on the same day (fault.ErrConflict). It returns the versions stored.
func (s *Store) PutAgreements(ctx context.Context, author string, vs []AgreementVersion) ([]AgreementVersion, error) {
	if len(vs) == 0 {
		return nil, fault.Invalid("body", "no agreements to store")
	}
	for _, v := range vs {
		if err := v.Check(); err != nil {
			return nil, fmt.Errorf("agreement %s: %w", v.AgreementID, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := distinct(vs, func(v AgreementVersion) string { return v.AgreementID })
	all, err := s.agreementsByID(ctx, ids, false)
	if err != nil {
		return nil, err
	}
	stamp := s.stamp(author)
	out := make([]AgreementVersion, len(vs))
	for i, v := range vs {
		v.Version, v.RecordedAt, v.Author = stamp(i)
		out[i] = v
		all[v.AgreementID] = append(all[v.AgreementID], v)
	}
	var meters []string
	for _, id := range ids {
		for _, v := range all[id] {
			meters = append(meters, v.MeterID)
		}
	}
	meters = distinct(meters, func(m string) string { return m })
	mvs, err := s.meterVersions(ctx, meters)
	if err != nil {
		return nil, err
	}
	for _, v := range out {
		if len(mvs[v.MeterID]) == 0 {
			return nil, fault.Invalid("meter_id", "agreement %s: meter %s is not in the registry (PUT /v1/admin/meters/%s first)", v.AgreementID, v.MeterID, v.MeterID)
		}
	}
	if err := CheckRetired(all, mvs); err != nil {
		return nil, err
	}
	others, err := s.agreementsOn(ctx, meters)
	if err != nil {
		return nil, err
	}
	others = slices.DeleteFunc(others, func(id string) bool { return slices.Contains(ids, id) })
	if len(others) > 0 {
		more, err := s.agreementsByID(ctx, others, false)
		if err != nil {
			return nil, err
		}
		for id, v := range more {
			all[id] = v
		}
	}
	if err := CheckOverlap(all); err != nil {
		return nil, err
	}
	err = s.batch(ctx, insertAgreements, len(out), func(i int) []any {
		v := out[i]
		return []any{v.AgreementID, v.AccountID, v.ServicePointID, v.MeterID, v.Tariff, v.CustomerClass, uint8(v.CycleDay),
			v.CycleCalendar, v.Start, dateArg(v.End), v.ValidFrom, v.Version, v.RecordedAt, v.Author}
	})
	if err != nil {
		return nil, fmt.Errorf("store agreements: %w", err)
	}
	// A second insert: a failure here leaves versions without personal data, which read
	// back with an empty Customer; writing the same versions again completes them.
	err = s.batch(ctx, fmt.Sprintf(insertCustomers, s.private), len(out), func(i int) []any {
		v := out[i]
		var ls uint8
		if v.Customer.LifeSupport {
			ls = 1
		}
		return []any{v.AgreementID, v.ValidFrom, v.Version, v.Customer.Name, v.Customer.Address, ls, dateArg(v.NoticeDate)}
	})
	if err != nil {
		return nil, fmt.Errorf("store agreements' customers: %w", err)
	}
	return out, s.writeCurrent(ctx, meters)
}

// CheckRetired returns a fault.ErrConflict when one of the agreements (id → versions)
// uses a meter (id → versions) on or after the day the meter is retired from.
func CheckRetired(agreements map[string][]AgreementVersion, meters map[string][]MeterVersion) error {
	ids := make([]string, 0, len(agreements))
	for id := range agreements {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, sp := range Timeline(agreements[id], time.Time{}, time.Time{}) {
			if r, ok := retiredFrom(meters[sp.Version.MeterID]); ok && (sp.To.IsZero() || sp.To.After(r)) {
				return fmt.Errorf("%w: agreement %s uses meter %s on or after its retirement on %s", fault.ErrConflict, id, sp.Version.MeterID, day(r))
			}
		}
	}
	return nil
}

// retiredFrom returns the date a meter is retired from.
func retiredFrom(vs []MeterVersion) (time.Time, bool) {
	for _, v := range vs {
		if v.Status == StatusRetired {
			return v.ValidFrom, true
		}
	}
	return time.Time{}, false
}

// MeterVersions returns every version of a meter in date order (fault.ErrNotFound when it
// has none).
func (s *Store) MeterVersions(ctx context.Context, id string) ([]MeterVersion, error) {
	if !schema.ValidMeterID([]byte(id)) {
		return nil, fault.Invalid("meter_id", "%q is not a meter id", id)
	}
	m, err := s.meterVersions(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if len(m[id]) == 0 {
		return nil, fmt.Errorf("%w: meter %s has no registry versions", fault.ErrNotFound, id)
	}
	return m[id], nil
}

// AgreementVersions returns every version of an agreement in date order, with its
// customer's personal data (fault.ErrNotFound when it has none).
func (s *Store) AgreementVersions(ctx context.Context, id string) ([]AgreementVersion, error) {
	if err := checkID("agreement_id", id); err != nil {
		return nil, err
	}
	m, err := s.agreementVersions(ctx, `agreement_id = ?`, []any{id}, true)
	if err != nil {
		return nil, err
	}
	if len(m[id]) == 0 {
		return nil, fmt.Errorf("%w: agreement %s", fault.ErrNotFound, id)
	}
	return m[id], nil
}

// AgreementAt returns the version of an agreement in force on date d, with the
// agreement's start and end dates, and whether the agreement supplies on d (false before
// its start and after its end; the version is then the one nearest to d).
func (s *Store) AgreementAt(ctx context.Context, id string, d time.Time) (AgreementVersion, bool, error) {
	vs, err := s.AgreementVersions(ctx, id)
	if err != nil {
		return AgreementVersion{}, false, err
	}
	spans := Timeline(vs, time.Time{}, time.Time{})
	if sp, ok := At(spans, d); ok {
		return sp.Version, true, nil
	}
	if len(spans) == 0 {
		return AgreementVersion{}, false, fmt.Errorf("%w: agreement %s has no day of supply", fault.ErrNotFound, id)
	}
	if d.Before(spans[0].From) {
		return spans[0].Version, false, nil
	}
	return spans[len(spans)-1].Version, false, nil
}

// MeterAgreementAt returns the version of the agreement supplying through meter on date d,
// with the customer's personal data and notice date, and false when no agreement does
// (the meter unused that day). It is what remote control's safety rules read: the
// life-support flag and the disconnect notice of whoever the meter supplies. A version
// whose personal data is missing (its second insert failed, see PutAgreements) is an
// error rather than a customer without the flag.
func (s *Store) MeterAgreementAt(ctx context.Context, meter string, d time.Time) (AgreementVersion, bool, error) {
	vs, err := s.MeterAgreementsAt(ctx, map[string]time.Time{meter: d})
	if err != nil {
		return AgreementVersion{}, false, err
	}
	v, ok := vs[meter]
	return v, ok, nil
}

// MeterAgreementsAt is MeterAgreementAt for many meters, each on its own date (on: meter
// → date): the version of the agreement supplying through each meter on its date, by
// meter; a meter no agreement supplies then is absent. It reads the agreements of a chunk
// of meters and their personal data in one query each, which is what a bulk disconnect's
// safety rules need.
func (s *Store) MeterAgreementsAt(ctx context.Context, on map[string]time.Time) (map[string]AgreementVersion, error) {
	meters := make([]string, 0, len(on))
	for m := range on {
		if !schema.ValidMeterID([]byte(m)) {
			return nil, fault.Invalid("meter_id", "%q is not a meter id", m)
		}
		meters = append(meters, m)
	}
	sort.Strings(meters)
	out := map[string]AgreementVersion{}
	for chunk := range slices.Chunk(meters, s.chunk) {
		all, err := s.agreementVersions(ctx, `agreement_id IN (SELECT agreement_id FROM service_agreements WHERE meter_id IN (SELECT arrayJoin(?)))`, []any{chunk}, false)
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(all))
		for id := range all {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		// Of several agreements that supply through a meter on its date, the first by id.
		found := map[string]AgreementVersion{}
		for _, id := range ids {
			spans := Timeline(all[id], time.Time{}, time.Time{})
			for _, v := range all[id] {
				m := v.MeterID
				d, asked := on[m]
				if _, done := found[m]; !asked || done {
					continue
				}
				if sp, ok := At(spans, dateOf(d)); ok && sp.Version.MeterID == m {
					found[m] = sp.Version
				}
			}
		}
		if len(found) == 0 {
			continue
		}
		var used []string
		for _, v := range found {
			used = append(used, v.AgreementID)
		}
		private, err := s.customers(ctx, used)
		if err != nil {
			return nil, err
		}
		for _, m := range chunk {
			v, ok := found[m]
			if !ok {
				continue
			}
			p, ok := private[privateKey{v.AgreementID, v.ValidFrom, v.Version}]
			if !ok {
				return nil, fmt.Errorf("registry: agreement %s version %d (valid from %s) has no personal data in %s.agreement_customers: write the version again",
					v.AgreementID, v.Version, day(v.ValidFrom), s.private)
			}
			v.Customer, v.NoticeDate = p.customer, p.notice
			out[m] = v
		}
	}
	return out, nil
}

// MeterVersionsOf returns every version of each of the meters ids that has one, by meter,
// in date order, a chunk of meters per query (MeterVersions for many meters).
func (s *Store) MeterVersionsOf(ctx context.Context, ids []string) (map[string][]MeterVersion, error) {
	for _, id := range ids {
		if !schema.ValidMeterID([]byte(id)) {
			return nil, fault.Invalid("meter_id", "%q is not a meter id", id)
		}
	}
	return s.meterVersions(ctx, ids)
}

const inForceSQL = `SELECT agreement_id FROM service_agreements GROUP BY agreement_id
HAVING argMax(start_date, version) < toDate(?) AND (argMax(end_date, version) = toDate('1970-01-01') OR argMax(end_date, version) >= toDate(?))
ORDER BY agreement_id`

// AgreementsInForce returns every agreement supplying on a day of [from, to) (dates), in
// id order, each with the spans of its versions clipped to [from, to) and its customers'
// personal data: what a billing run reads to know whom to bill, through which meter(s) and
// on which tariff(s).
func (s *Store) AgreementsInForce(ctx context.Context, from, to time.Time) ([]Term, error) {
	if !from.Before(to) {
		return nil, fault.Invalid("to", "%s is not after from %s", day(to), day(from))
	}
	ids, err := s.strings(ctx, inForceSQL, day(to), day(from))
	if err != nil {
		return nil, fmt.Errorf("read agreements in force: %w", err)
	}
	var out []Term
	for chunk := range slices.Chunk(ids, s.chunk) {
		m, err := s.agreementVersions(ctx, `agreement_id IN (SELECT arrayJoin(?))`, []any{chunk}, true)
		if err != nil {
			return nil, err
		}
		for _, id := range chunk {
			if sp := Timeline(m[id], from, to); len(sp) > 0 {
				out = append(out, Term{AgreementID: id, Spans: sp})
			}
		}
	}
	return out, nil
}

// Refresh rewrites the current view's row of every meter of the registry, as of today:
// versions whose valid_from has come since the last write take effect. Run it daily (the
// rows of meters written since are already current).
func (s *Store) Refresh(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids, err := s.strings(ctx, `SELECT DISTINCT meter_id FROM meter_versions ORDER BY meter_id`)
	if err != nil {
		return 0, fmt.Errorf("refresh the registry: %w", err)
	}
	for chunk := range slices.Chunk(ids, s.chunk) {
		if err := s.writeCurrent(ctx, chunk); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

const meterVersionsSQL = `SELECT meter_id, valid_from, feeder, region, time_zone, status, version, recorded_at, author
FROM meter_versions WHERE meter_id IN (SELECT arrayJoin(?)) ORDER BY meter_id, valid_from, version`

// meterVersions reads the versions of meters, by meter, in date order.
func (s *Store) meterVersions(ctx context.Context, ids []string) (map[string][]MeterVersion, error) {
	out := map[string][]MeterVersion{}
	for chunk := range slices.Chunk(ids, s.chunk) {
		if err := s.meterVersionsOf(ctx, chunk, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// meterVersionsOf adds the versions of one chunk of meters to out.
func (s *Store) meterVersionsOf(ctx context.Context, ids []string, out map[string][]MeterVersion) error {
	rows, err := s.conn.Query(ctx, meterVersionsSQL, ids)
	if err != nil {
		return fmt.Errorf("read meter versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v      MeterVersion
			status string
		)
		if err := rows.Scan(&v.MeterID, &v.ValidFrom, &v.Feeder, &v.Region, &v.TimeZone, &status, &v.Version, &v.RecordedAt, &v.Author); err != nil {
			return fmt.Errorf("read meter versions: %w", err)
		}
		v.ValidFrom, v.Status, v.RecordedAt = dateOf(v.ValidFrom), Status(status), v.RecordedAt.UTC()
		out[v.MeterID] = append(out[v.MeterID], v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read meter versions: %w", err)
	}
	return nil
}

// chunkIDs is the most ids one query binds: 2000 ids of up to 64 characters stay well
// inside ClickHouse's max_query_size (256 KiB).
const chunkIDs = 2000

// agreementsByID reads the versions of the agreements ids, by agreement, in date order,
// a chunk at a time; with private, their customers' personal data too.
func (s *Store) agreementsByID(ctx context.Context, ids []string, private bool) (map[string][]AgreementVersion, error) {
	out := map[string][]AgreementVersion{}
	for chunk := range slices.Chunk(ids, s.chunk) {
		m, err := s.agreementVersions(ctx, `agreement_id IN (SELECT arrayJoin(?))`, []any{chunk}, private)
		if err != nil {
			return nil, err
		}
		for id, vs := range m {
			out[id] = vs
		}
	}
	return out, nil
}

const agreementVersionsSQL = `SELECT agreement_id, account_id, service_point_id, meter_id, tariff, customer_class, cycle_day,
cycle_calendar, start_date, end_date, valid_from, version, recorded_at, author FROM service_agreements WHERE `

// agreementVersions reads the versions of the agreements matching where (a condition
// with placeholders for args), by agreement, in date order; with private, their customers'
// personal data too.
func (s *Store) agreementVersions(ctx context.Context, where string, args []any, private bool) (map[string][]AgreementVersion, error) {
	rows, err := s.conn.Query(ctx, agreementVersionsSQL+where+` ORDER BY agreement_id, valid_from, version`, args...)
	if err != nil {
		return nil, fmt.Errorf("read agreements: %w", err)
	}
	out := map[string][]AgreementVersion{}
	var ids []string
	for rows.Next() {
		var (
			v     AgreementVersion
			cycle uint8
		)
		if err := rows.Scan(&v.AgreementID, &v.AccountID, &v.ServicePointID, &v.MeterID, &v.Tariff, &v.CustomerClass, &cycle,
			&v.CycleCalendar, &v.Start, &v.End, &v.ValidFrom, &v.Version, &v.RecordedAt, &v.Author); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read agreements: %w", err)
		}
		v.CycleDay, v.Start, v.End, v.ValidFrom, v.RecordedAt = int(cycle), dateOf(v.Start), dateOf(v.End), dateOf(v.ValidFrom), v.RecordedAt.UTC()
		if len(out[v.AgreementID]) == 0 {
			ids = append(ids, v.AgreementID)
		}
		out[v.AgreementID] = append(out[v.AgreementID], v)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("read agreements: %w", err)
	}
	if !private || len(ids) == 0 {
		return out, nil
	}
	customers, err := s.customers(ctx, ids)
	if err != nil {
		return nil, err
	}
	for id, vs := range out {
		for i := range vs {
			p := customers[privateKey{id, vs[i].ValidFrom, vs[i].Version}]
			vs[i].Customer, vs[i].NoticeDate = p.customer, p.notice
		}
		out[id] = vs
	}
	return out, nil
}

// privateRow is one row of agreement_customers: a version's personal data and notice date.
type privateRow struct {
	customer Customer
	notice   time.Time
}

// privateKey identifies the version a row of agreement_customers completes: its sorting
// key, shared with service_agreements.
type privateKey struct {
	agreement string
	validFrom time.Time
	version   uint64
}

// customers reads the personal data and notice dates of the agreements' versions, by
// version.
func (s *Store) customers(ctx context.Context, ids []string) (map[privateKey]privateRow, error) {
	rows, err := s.conn.Query(ctx, `SELECT agreement_id, valid_from, version, customer_name, address, life_support, notice_date FROM `+s.private+
		`.agreement_customers WHERE agreement_id IN (SELECT arrayJoin(?))`, ids)
	if err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	defer rows.Close()
	out := map[privateKey]privateRow{}
	for rows.Next() {
		var (
			k  privateKey
			p  privateRow
			ls uint8
		)
		if err := rows.Scan(&k.agreement, &k.validFrom, &k.version, &p.customer.Name, &p.customer.Address, &ls, &p.notice); err != nil {
			return nil, fmt.Errorf("read customers: %w", err)
		}
		k.validFrom = dateOf(k.validFrom)
		p.customer.LifeSupport, p.notice = ls == 1, dateOf(p.notice)
		out[k] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	return out, nil
}

// agreementsOn returns the ids of every agreement that ever used one of the meters.
func (s *Store) agreementsOn(ctx context.Context, meters []string) ([]string, error) {
	var out []string
	for chunk := range slices.Chunk(meters, s.chunk) {
		ids, err := s.strings(ctx, `SELECT DISTINCT agreement_id FROM service_agreements WHERE meter_id IN (SELECT arrayJoin(?))`, chunk)
		if err != nil {
			return nil, fmt.Errorf("read the agreements of meters: %w", err)
		}
		out = append(out, ids...)
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// strings runs a query of one String column.
func (s *Store) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Current returns the current view's row of a meter from its versions and the versions of
// the agreements that use or used it, as of date today: the meter's own attributes from its
// version in force, the customer class and tariff from the agreement supplying through it
// today (empty when none does). LifeSupport stays false: its owner is the private
// agreement_customers table, out of the platform database's reach.
func Current(meter []MeterVersion, agreements map[string][]AgreementVersion, today time.Time) (schema.Meter, bool) {
	mv, ok := MeterAt(meter, today)
	if !ok {
		return schema.Meter{}, false
	}
	out := schema.Meter{MeterID: mv.MeterID, Feeder: mv.Feeder, Region: mv.Region, TimeZone: mv.TimeZone, Status: string(mv.Status)}
	ids := make([]string, 0, len(agreements))
	for id := range agreements {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if sp, ok := At(Timeline(agreements[id], time.Time{}, time.Time{}), today); ok && sp.Version.MeterID == mv.MeterID {
			out.CustomerClass, out.Tariff = sp.Version.CustomerClass, sp.Version.Tariff
			break
		}
	}
	return out, true
}

// writeCurrent rewrites the current view's rows of meters.
func (s *Store) writeCurrent(ctx context.Context, meters []string) error {
	if len(meters) == 0 {
		return nil
	}
	mvs, err := s.meterVersions(ctx, meters)
	if err != nil {
		return err
	}
	ids, err := s.agreementsOn(ctx, meters)
	if err != nil {
		return err
	}
	agreements := map[string][]AgreementVersion{}
	if len(ids) > 0 {
		if agreements, err = s.agreementsByID(ctx, ids, false); err != nil {
			return err
		}
	}
	byMeter := map[string]map[string][]AgreementVersion{}
	for id, vs := range agreements {
		for _, v := range vs {
			if byMeter[v.MeterID] == nil {
				byMeter[v.MeterID] = map[string][]AgreementVersion{}
			}
			byMeter[v.MeterID][id] = vs
		}
	}
	prev, err := s.updatedAt(ctx, meters)
	if err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Second)
	today := dateOf(now)
	var rows []schema.Meter
	for _, id := range meters {
		m, ok := Current(mvs[id], byMeter[id], today)
		if !ok {
			continue
		}
		// The newest updated_at wins in meters: never write one that is not newer.
		m.UpdatedAt = now
		if p, ok := prev[id]; ok && !now.After(p) {
			m.UpdatedAt = p.Add(time.Second)
		}
		rows = append(rows, m)
	}
	if err := schema.InsertMeters(ctx, s.conn, rows); err != nil {
		return fmt.Errorf("write the current registry: %w", err)
	}
	return nil
}

// updatedAt reads the newest updated_at of meters in the current view.
func (s *Store) updatedAt(ctx context.Context, meters []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for chunk := range slices.Chunk(meters, s.chunk) {
		if err := s.updatedAtOf(ctx, chunk, out); err != nil {
			return nil, fmt.Errorf("read the current registry: %w", err)
		}
	}
	return out, nil
}

// updatedAtOf adds the newest updated_at of one chunk of meters to out.
func (s *Store) updatedAtOf(ctx context.Context, meters []string, out map[string]time.Time) error {
	rows, err := s.conn.Query(ctx, `SELECT meter_id, max(updated_at) FROM meters WHERE meter_id IN (SELECT arrayJoin(?)) GROUP BY meter_id`, meters)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			at time.Time
		)
		if err := rows.Scan(&id, &at); err != nil {
			return err
		}
		out[id] = at.UTC()
	}
	return rows.Err()
}

// batch inserts n rows given by row in one batch.
func (s *Store) batch(ctx context.Context, insert string, n int, row func(i int) []any) error {
	bctx, sent := schema.BatchContext(ctx)
	defer sent()
	b, err := s.conn.PrepareBatch(bctx, insert)
	if err != nil {
		return err
	}
	defer b.Abort() //nolint:errcheck // a no-op once sent
	for i := range n {
		if err := b.Append(row(i)...); err != nil {
			return err
		}
	}
	return b.Send()
}

// distinct returns the distinct keys of vs in first-seen order.
func distinct[T any](vs []T, key func(T) string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vs {
		if k := key(v); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
