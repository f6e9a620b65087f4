// Package optimo is a deterministic, in-process simulator of the Optimo
// Sport API: XML over POST to a single endpoint, HTTP basic auth with a
// token as the user name, the list methods athlete.list, coach.list,
// workout.list and assessment.list with the vendor's paging attributes
// (at most 100 rows a page), the updated_from and date filters, fail
// responses with HTTP 200, a daily request quota per account counted in the
// account's time zone, a virtual clock that Advance moves forward while
// simulating activity, and fault knobs for tests.
//
// The Dataset is the ground truth: every value a client decodes from the
// wire equals the truth. Times are the account's wall clock, as the wire
// sends them ("YYYY-MM-DD HH:MM:SS" without a zone): in the truth they are
// time.Time values in the UTC location holding the wall-clock reading,
// truncated to the second. WallToUTC turns a reading into the instant the
// vendor means.
//
// The awkward parts of the vendor are kept:
//   - the root element of an ok response is sometimes request instead of
//     response (Faults.RequestRootRate), as in the vendor's own sample;
//   - a nil value is sent as an empty element (<notes/>, <notes></notes>) or
//     left out, varying by record and field; an empty string cannot be told
//     from nil, so the generated truth never holds one;
//   - every record type carries an element the product does not know
//     (Extra): <custom_field> on athletes, <phone> on coaches, <device> on
//     workouts, <location> on assessments, <attempt> on some results;
//   - floats are printed in more than one style (heights and weights with
//     one fixed decimal, distances with two, results in their shortest form);
//   - ids follow creation (import) order, not the order of started_at: a
//     watch synced days late gets a later id than newer workouts;
//   - filters compare wall-clock readings, so they are not monotonic in real
//     time across the autumn DST change; the history always crosses the
//     zone's latest DST changes (for Copenhagen: late March and late
//     October). Generated stamps never fall in the second occurrence of a
//     repeated hour: a reading in the repeated hour means its first
//     occurrence (the offset before the change). A record is planted in the
//     repeated hour of the latest autumn change (a workout started at 02:30
//     and imported at 02:55, an assessment at 02:15, both summer time) and
//     around the latest spring change (a workout started 15 minutes before
//     the skipped hour, lasting 40 minutes, and one started at the first
//     second after it). No stamp is a skipped (nonexistent) reading.
package optimo

import (
	"time"

	"github.com/athlake/athlake/sandbox/internal/scale"
)

// Defaults and limits of the API.
const (
	// Endpoint is the API's single entry point, relative to the mount.
	Endpoint = "/api/2.1/xml-in"
	// DefaultStart is the virtual clock's start when Options.Start is zero.
	DefaultStart = "2026-06-01T00:00:00Z"
	// DefaultZone is the account's zone when Options.Timezone is nil.
	DefaultZone = "Europe/Copenhagen"
	// DefaultDailyQuota is the requests per account per day when
	// Options.DailyQuota is 0.
	DefaultDailyQuota = 5000
	// DefaultPerPage is the page size when per_page is absent.
	DefaultPerPage = 25
	// MaxPerPage is the most rows a list returns, whatever per_page says.
	MaxPerPage = 100
	// MinHistoryDays is the least span of the generated history; it grows
	// (up to MaxHistoryDays) until it holds the zone's latest DST changes
	// with a week to spare.
	MinHistoryDays = 180
	MaxHistoryDays = 400
)

// The layouts of the wire's times and dates.
const (
	WallLayout = "2006-01-02 15:04:05"
	DateLayout = "2006-01-02"
)

// Options configures a Server.
type Options struct {
	Seed int64
	// Scale is the account's size (sandbox.ScaleSmall, ScaleMedium,
	// ScaleLarge):
	//   - small is the demo: 25 athletes, 3 coaches, ~150 workouts,
	//     ~60 assessments with 2–6 results each;
	//   - medium: 300 athletes, 12 coaches, ~6,000 workouts, ~900
	//     assessments;
	//   - large: 3,000 athletes, 40 coaches, ~80,000 workouts, ~9,000
	//     assessments.
	Scale scale.Scale
	// AdminToken is the admin's API token (the basic auth user name; the
	// password is not checked: the vendor asks for "an arbitrary string,
	// like X"). Full access.
	AdminToken string
	// CoachToken is a coach's API token: coach.list answers a fail response
	// for it. Empty tokens never authenticate.
	CoachToken string
	// Timezone is the account's wall-clock zone (nil: Europe/Copenhagen).
	Timezone *time.Location
	// DailyQuota is the requests per account per day (0: 5000), the day
	// taken in Timezone on Clock.
	DailyQuota int
	// QuotaAs429 answers a request over the quota with HTTP 429 (and the
	// fail body) instead of a fail response with HTTP 200.
	QuotaAs429 bool
	// Clock is the real clock the quota's day is taken on (nil: time.Now).
	// It is not the virtual clock of the data.
	Clock func() time.Time
	// Start is the virtual clock's "now" at creation (zero: DefaultStart);
	// the generated history lies before it.
	Start time.Time
	// HostileIDs serves the ids of athletes, workouts and assessments as
	// strings that break careless code (HostileIDs, then hostile strings
	// with the number appended) instead of numbers; athlete_id arguments
	// take them, XML-escaped like any text. WireID spells them.
	HostileIDs bool
	// StampName is the element that carries every record's change stamp,
	// the one updated_from filters on (empty: updated_at), as on accounts
	// that call it otherwise.
	StampName string
	// RecordCalls keeps every answered list call (Calls), for tests that
	// count the pages a client fetched.
	RecordCalls bool
}

// Dataset is the simulator's ground truth. Wall-clock times are in the UTC
// location, holding the account's wall-clock reading, truncated to the
// second; BirthDate is a date (midnight UTC). Every slice is in id order,
// the API's order.
type Dataset struct {
	Athletes    []Athlete
	Coaches     []Coach
	Workouts    []Workout
	Assessments []Assessment
}

// Extra holds elements the product does not know, sent after the record's
// known fields and before created_at, in name order: element name -> text.
// A name that is not a valid XML name is not sent.
type Extra map[string]string

// Athlete is an athlete of the account.
type Athlete struct {
	AthleteID         int64
	FirstName         string
	LastName          string
	Email             string
	BirthDate         *time.Time // date only
	Gender            string     // female, male, other
	HeightCm          *float64   // one decimal
	WeightKg          *float64   // one decimal
	BodyFatPercentage *int       // whole percent
	Active            bool
	Extra             Extra // <custom_field>
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Coach is a coach (staff member) of the account.
type Coach struct {
	CoachID   int64
	FirstName string
	LastName  string
	Email     string
	IsAdmin   bool
	Extra     Extra // <phone>
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Workout is a workout imported from a Polar or Timex watch or a CSV file.
type Workout struct {
	WorkoutID           int64
	AthleteID           int64
	Source              string // polar, timex, csv (as imported)
	Sport               string
	StartedAt           time.Time // wall clock
	DurationSeconds     int64
	DistanceKm          *float64 // two decimals
	AvgHR               *int
	MaxHR               *int
	Calories            *int
	RPE                 *int // 1–10
	IntensityPercentage *int // whole percent of the athlete's maximum heart rate
	Notes               *string
	Extra               Extra // <device>
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Assessment is one assessment of an athlete with its measured results.
type Assessment struct {
	AssessmentID int64
	AthleteID    int64
	Name         string
	AssessedAt   time.Time // wall clock
	Notes        *string
	Extra        Extra // <location>
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Results      []Result // in the order sent
}

// Result is one measured value of an assessment, e.g. "vo2max" 54.2
// "ml/kg/min", "sprint_20m" 3.12 "s", "body_fat" 12 "%".
type Result struct {
	Metric string
	Value  float64
	Unit   string
	Extra  Extra // <attempt> on some
}
