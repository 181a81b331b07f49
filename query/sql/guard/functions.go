package guard

import (
	"strings"
)

// The functions analyst SQL may call: every function is refused unless it is listed here.
// Each name exists in ClickHouse 18.16 (TestGuardFunctionsExist checks them against the
// server's system.functions). ClickHouse resolves a function name exactly; only the
// names it registers as case-insensitive (ciFunctions) also match in any case. An
// aggregate also passes with the combinators of aggregateCombinators appended
// (sumIf, uniqArrayIf, argMaxMerge, sumState, …).

// analystAggregates are the allowed aggregate functions.
var analystAggregates = strings.Fields(`
	count sum avg min max any anyLast anyHeavy argMin argMax
	uniq uniqExact uniqCombined uniqHLL12 uniqUpTo
	quantile quantiles quantileDeterministic quantilesDeterministic quantileExact quantilesExact
	quantileExactWeighted quantilesExactWeighted quantileTDigest quantilesTDigest
	quantileTDigestWeighted quantilesTDigestWeighted quantileTiming quantilesTiming
	quantileTimingWeighted quantilesTimingWeighted
	median medianDeterministic medianExact medianExactWeighted medianTDigest medianTDigestWeighted
	medianTiming medianTimingWeighted
	groupArray groupUniqArray groupArrayInsertAt topK
	stddevPop stddevSamp stddevPopStable stddevSampStable varPop varSamp varPopStable varSampStable
	corr corrStable covarPop covarSamp covarPopStable covarSampStable
	STDDEV_POP STDDEV_SAMP VAR_POP VAR_SAMP COVAR_POP COVAR_SAMP
	sumKahan sumMap sumWithOverflow groupBitAnd groupBitOr groupBitXor BIT_AND BIT_OR BIT_XOR
	histogram retention sequenceMatch sequenceCount windowFunnel maxIntersections maxIntersectionsPosition
`)

// analystFunctions are the allowed ordinary functions.
var analystFunctions = strings.Fields(`
	plus minus multiply divide intDiv intDivOrZero modulo negate abs gcd lcm
	round roundToExp2 roundDuration roundAge floor ceil ceiling trunc truncate
	sqrt cbrt exp exp2 exp10 log ln log2 log10 pow power intExp2 intExp10 e pi
	sin cos tan asin acos atan erf erfc lgamma tgamma isFinite isInfinite isNaN greatest least
	bitAnd bitOr bitXor bitNot bitShiftLeft bitShiftRight bitRotateLeft bitRotateRight
	bitTest bitTestAll bitTestAny bitmaskToArray bitmaskToList

	equals notEquals less greater lessOrEquals greaterOrEquals and or not xor

	if multiIf ifNull nullIf coalesce isNull isNotNull assumeNotNull toNullable
	caseWithExpr caseWithExpression caseWithoutExpr caseWithoutExpression transform throwIf

	toDate toDateTime toDateOrNull toDateOrZero toDateTimeOrNull toDateTimeOrZero toTimeZone
	parseDateTimeBestEffort parseDateTimeBestEffortOrNull parseDateTimeBestEffortOrZero
	toStartOfYear toStartOfISOYear toStartOfQuarter toStartOfMonth toMonday toStartOfDay
	toStartOfHour toStartOfFifteenMinutes toStartOfFiveMinute toStartOfMinute toTime
	toYear toISOYear toQuarter toMonth toISOWeek toDayOfYear toDayOfMonth toDayOfWeek
	toHour toMinute toSecond toUnixTimestamp toYYYYMM toYYYYMMDD toYYYYMMDDhhmmss
	toRelativeYearNum toRelativeQuarterNum toRelativeMonthNum toRelativeWeekNum
	toRelativeDayNum toRelativeHourNum toRelativeMinuteNum toRelativeSecondNum
	now today yesterday dateDiff formatDateTime timeSlot timeSlots
	addYears addMonths addWeeks addDays addHours addMinutes addSeconds
	subtractYears subtractMonths subtractWeeks subtractDays subtractHours subtractMinutes subtractSeconds
	toIntervalYear toIntervalMonth toIntervalWeek toIntervalDay toIntervalHour toIntervalMinute toIntervalSecond

	length CHAR_LENGTH CHARACTER_LENGTH lengthUTF8 empty notEmpty lower upper lcase ucase
	lowerUTF8 upperUTF8 reverse reverseUTF8 concat concatAssumeInjective
	substring substr mid substringUTF8 appendTrailingCharIfAbsent
	position locate positionUTF8 positionCaseInsensitive positionCaseInsensitiveUTF8
	like notLike match extract extractAll replaceOne replaceAll replace replaceRegexpOne replaceRegexpAll
	splitByChar splitByString alphaTokens arrayStringConcat startsWith endsWith
	toString toStringCutToZero toFixedString visibleWidth convertCharset hex unhex
	formatReadableSize bar
	visitParamHas visitParamExtractUInt visitParamExtractInt visitParamExtractFloat
	visitParamExtractBool visitParamExtractRaw visitParamExtractString
	protocol domain domainWithoutWWW topLevelDomain firstSignificantSubdomain
	cutToFirstSignificantSubdomain path pathFull queryString fragment queryStringAndFragment
	extractURLParameter extractURLParameters extractURLParameterNames URLHierarchy URLPathHierarchy
	decodeURLComponent cutWWW cutQueryString cutFragment cutQueryStringAndFragment cutURLParameter
	IPv4NumToString IPv4StringToNum IPv4NumToStringClassC IPv4ToIPv6 IPv6NumToString IPv6StringToNum
	cutIPv6 MACNumToString MACStringToNum MACStringToOUI UUIDNumToString UUIDStringToNum toUUID
	generateUUIDv4

	array arrayJoin arrayElement has hasAll hasAny indexOf countEqual range replicate
	arrayMap arrayFilter arrayCount arrayExists arrayAll arraySum arrayFirst arrayFirstIndex
	arrayCumSum arrayCumSumNonNegative arrayDifference arrayDistinct arrayEnumerate
	arrayEnumerateDense arrayEnumerateUniq arrayUniq arrayConcat arrayIntersect
	arrayPopBack arrayPopFront arrayPushBack arrayPushFront arrayResize arrayReverse arraySlice
	arraySort arrayReverseSort emptyArrayToSingle
	emptyArrayUInt8 emptyArrayUInt16 emptyArrayUInt32 emptyArrayUInt64 emptyArrayInt8
	emptyArrayInt16 emptyArrayInt32 emptyArrayInt64 emptyArrayFloat32 emptyArrayFloat64
	emptyArrayDate emptyArrayDateTime emptyArrayString
	tuple tupleElement

	toInt8 toInt16 toInt32 toInt64 toUInt8 toUInt16 toUInt32 toUInt64 toFloat32 toFloat64
	toInt8OrZero toInt16OrZero toInt32OrZero toInt64OrZero toUInt8OrZero toUInt16OrZero
	toUInt32OrZero toUInt64OrZero toFloat32OrZero toFloat64OrZero
	toInt8OrNull toInt16OrNull toInt32OrNull toInt64OrNull toUInt8OrNull toUInt16OrNull
	toUInt32OrNull toUInt64OrNull toFloat32OrNull toFloat64OrNull
	toDecimal32 toDecimal64 toDecimal128 CAST toLowCardinality lowCardinalityIndices lowCardinalityKeys

	cityHash64 sipHash64 sipHash128 MD5 SHA1 SHA224 SHA256 halfMD5 farmHash64 metroHash64
	murmurHash2_32 murmurHash2_64 murmurHash3_32 murmurHash3_64 murmurHash3_128
	intHash32 intHash64 URLHash jumpConsistentHash yandexConsistentHash sumburConsistentHash

	currentDatabase runningAccumulate runningDifference runningDifferenceStartingWithFirstValue
	finalizeAggregation rowNumberInAllBlocks rowNumberInBlock blockNumber blockSize
	materialize identity ignore indexHint toTypeName toColumnTypeName dumpColumnStructure
	defaultValueOfArgumentType getSizeOfEnumType rand rand64 randConstant
	greatCircleDistance pointInEllipses pointInPolygon
`)

// ciFunctions are the allowed names ClickHouse 18.16 registers as case-insensitive
// (system.functions.case_insensitive): they match in any case.
var ciFunctions = strings.Fields(`
	count sum avg min max corr retention windowFunnel
	STDDEV_POP STDDEV_SAMP VAR_POP VAR_SAMP COVAR_POP COVAR_SAMP BIT_AND BIT_OR BIT_XOR
	CAST CHAR_LENGTH CHARACTER_LENGTH acos asin atan ceil ceiling coalesce concat cos
	dateDiff exp floor if ifNull lcase length ln locate log log10 log2 lower mid now nullIf
	pi pow power replace round sin sqrt substr substring tan trunc truncate ucase upper
`)

// keywordFunctions are written with keyword syntax that ClickHouse's parser turns into
// allowed functions, in any case: EXTRACT(DAY FROM t).
var keywordFunctions = map[string]bool{"extract": true}

// aggregateCombinators are the suffixes that make another aggregate of an allowed one
// (18.16 has these and the internal Null).
var aggregateCombinators = []string{"If", "Array", "State", "Merge", "ForEach"}

// refusedFunctionReasons say why some well-known functions are refused.
var refusedFunctionReasons = map[string]string{
	"hasColumnInTable": "it connects to other servers and reads other databases",
	"arrayReduce":      "it calls the aggregate function its first argument names, past the allow-list; use the aggregate itself with the -Array combinator (sumArray)",
	"in":               "use the operator form x IN (…) over the platform database",
	"notIn":            "use the operator form x NOT IN (…) over the platform database",
	"globalIn":         "use the operator form x GLOBAL IN (…) over the platform database",
	"globalNotIn":      "use the operator form x GLOBAL NOT IN (…) over the platform database",
	"sleep":            "it holds the server", "sleepEachRow": "it holds the server",
	"hostName": "it reveals server information", "fqdn": "it reveals server information",
	"version": "it reveals server information", "uptime": "it reveals server information",
	"timezone": "it reveals server information", "getMacro": "it reveals server information",
	"getSetting": "it reveals server information", "modelEvaluate": "it runs server models",
	"numbers": "system.numbers gives a number sequence", "numbers_mt": "system.numbers gives a number sequence",
}

var (
	allowedExact      = map[string]bool{} // exact names of analystFunctions and analystAggregates
	allowedAggregates = map[string]bool{} // exact names of analystAggregates
	allowedCI         = map[string]bool{} // lower-cased names of ciFunctions
)

func init() {
	for _, f := range analystFunctions {
		allowedExact[f] = true
	}
	for _, f := range analystAggregates {
		allowedExact[f] = true
		allowedAggregates[f] = true
	}
	for _, f := range ciFunctions {
		allowedCI[strings.ToLower(f)] = true
	}
}

// functionAllowed reports whether analyst SQL may call the function name, resolved as
// ClickHouse 18.16 resolves it: exactly, then case-insensitively for the names it
// registers so, then as an allowed aggregate with combinators appended.
func functionAllowed(name string) bool {
	if len(name) > maxFunctionName {
		return false // no function has such a name; and stripping combinators stays cheap
	}
	if allowedExact[name] || allowedCI[strings.ToLower(name)] || keywordFunctions[strings.ToLower(name)] {
		return true
	}
	return aggregateAllowed(name)
}

// maxFunctionName bounds the length of a function name the guard resolves.
const maxFunctionName = 200

// aggregateAllowed reports whether name is an allowed aggregate, possibly followed by
// combinators (stripped in a loop, as AggregateFunctionFactory does recursively).
func aggregateAllowed(name string) bool {
	for name != "" {
		if allowedAggregates[name] || (allowedCI[strings.ToLower(name)] && allowedAggregates[ciAggregateName(name)]) {
			return true
		}
		stripped := false
		for _, c := range aggregateCombinators {
			if len(name) > len(c) && strings.HasSuffix(name, c) {
				name = name[:len(name)-len(c)]
				stripped = true
				break
			}
		}
		if !stripped {
			return false
		}
	}
	return false
}

// ciAggregateName returns the allowed aggregate spelled as name in another case, or "".
func ciAggregateName(name string) string {
	for _, a := range analystAggregates {
		if strings.EqualFold(a, name) {
			return a
		}
	}
	return ""
}
