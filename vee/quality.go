package vee

import "strconv"

// Quality is a NAESB ESPI QualityOfReading code describing how an interval
// value was obtained.
type Quality uint8

// QualityOfReading codes defined by NAESB ESPI. Codes 1 to 6 are not defined.
const (
	// QualityValid is data that passed validation.
	QualityValid Quality = 0
	// QualityManuallyEdited is data replaced by a person.
	QualityManuallyEdited Quality = 7
	// QualityEstimatedReferenceDay is data estimated from reference (like) days.
	QualityEstimatedReferenceDay Quality = 8
	// QualityEstimatedLinear is data estimated by linear interpolation.
	QualityEstimatedLinear Quality = 9
	// QualityQuestionable is data that failed a validation rule and was kept.
	QualityQuestionable Quality = 10
	// QualityDerived is data derived from other data.
	QualityDerived Quality = 11
	// QualityProjected is forecast data.
	QualityProjected Quality = 12
	// QualityMixed is an aggregate of intervals with different qualities.
	QualityMixed Quality = 13
	// QualityRaw is data that has not been validated.
	QualityRaw Quality = 14
	// QualityWeatherNormalized is data normalized for weather.
	QualityWeatherNormalized Quality = 15
	// QualityOther is data obtained by a method not covered by another code.
	QualityOther Quality = 16
	// QualityValidated is data validated by a further process.
	QualityValidated Quality = 17
	// QualityVerified is data verified by a further process.
	QualityVerified Quality = 18
	// QualityRevenue is revenue-quality data.
	QualityRevenue Quality = 19
)

var qualityNames = [...]string{
	QualityValid:                 "valid",
	QualityManuallyEdited:        "manually edited",
	QualityEstimatedReferenceDay: "estimated using reference day",
	QualityEstimatedLinear:       "estimated using linear interpolation",
	QualityQuestionable:          "questionable",
	QualityDerived:               "derived",
	QualityProjected:             "projected (forecast)",
	QualityMixed:                 "mixed",
	QualityRaw:                   "raw",
	QualityWeatherNormalized:     "normalized for weather",
	QualityOther:                 "other",
	QualityValidated:             "validated",
	QualityVerified:              "verified",
	QualityRevenue:               "revenue-quality",
}

// Defined reports whether q is one of the codes ESPI defines.
func (q Quality) Defined() bool {
	return int(q) < len(qualityNames) && qualityNames[q] != ""
}

// String returns the ESPI description of q, or "quality(N)" for an undefined code.
func (q Quality) String() string {
	if q.Defined() {
		return qualityNames[q]
	}
	return "quality(" + strconv.Itoa(int(q)) + ")"
}

// IsEstimated reports whether q is one of the codes this package gives to
// estimated intervals (reference day, linear interpolation or other).
func (q Quality) IsEstimated() bool {
	return q == QualityEstimatedReferenceDay || q == QualityEstimatedLinear || q == QualityOther
}

// Combine returns the quality of a bucket holding data of quality q and o:
// q when both are equal, QualityMixed otherwise. Combine is commutative and
// associative, so a bucket's quality can be folded in any order.
func (q Quality) Combine(o Quality) Quality {
	if q == o {
		return q
	}
	return QualityMixed
}

// CombineQualities returns the quality of a bucket aggregating intervals of
// the given qualities. The rule is: when every interval has the same quality,
// the bucket has that quality; otherwise the bucket is QualityMixed. This is
// strict on purpose: a bucket of valid (0) and validated (17) intervals is
// mixed, so a consumer never mistakes partly estimated or edited data for
// uniform data. The boolean is false for an empty bucket, which has no quality.
func CombineQualities(qs ...Quality) (Quality, bool) {
	if len(qs) == 0 {
		return 0, false
	}
	q := qs[0]
	for _, o := range qs[1:] {
		q = q.Combine(o)
	}
	return q, true
}

// Total returns the energy of intervals summed, and their combined quality as
// CombineQualities defines it. The boolean is false when intervals is empty.
func Total(intervals []Interval) (wh int64, q Quality, ok bool) {
	if len(intervals) == 0 {
		return 0, 0, false
	}
	q = intervals[0].Quality
	for _, iv := range intervals {
		wh += iv.Wh
		q = q.Combine(iv.Quality)
	}
	return wh, q, true
}
