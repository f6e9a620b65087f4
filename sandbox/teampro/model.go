// Package teampro is a deterministic, in-process simulator of the Polar Team
// Pro API and of its OAuth2 authorization server: seeded synthetic teams,
// team training sessions with participants and markers, each player's
// training sessions with 10 Hz samples, RR intervals and trimmed session
// summaries, the vendor's paging envelope, since/until and type filters,
// the authorization-code and rotating refresh-token grants, the per-client
// token bucket (1 request/s, burst 100) that answers 429, a virtual clock
// that Advance moves forward while simulating activity, and fault knobs for
// tests.
//
// The Dataset is the ground truth: every value a client decodes from the
// wire equals the truth (floats are rounded in the truth to the precision
// the wire prints). The awkward parts of the vendor are kept: wall-clock
// times without a zone beside UTC times with one, ISO-8601 durations in
// several spellings, sample rows shorter or longer than their fields,
// nulls inside rows and RR lists, feelings with a trailing comma, nulls sent
// as null by the list endpoints but left out by the detail endpoints.
//
// Samples are not kept in memory: each generated player session has a
// seed, and its samples and RR intervals are generated again, identically,
// whenever they are served or asked for (SessionSamples, Truth). Truth
// therefore costs about 150 bytes per sample (small: ~60 MB; medium: ~1.5
// GB; large: far too much): at medium and large scale use
// TruthWithoutSamples and SessionSamples.
package teampro

import (
	"time"

	"github.com/athlake/athlake/sandbox/internal/scale"
)

// DefaultStart is the virtual clock's start when Options.Start is zero.
const DefaultStart = "2026-06-01T00:00:00Z"

// Defaults of the Options.
const (
	DefaultAccessTTL = 12 * time.Hour
	DefaultRate      = 1.0
	DefaultBurst     = 100
	// CodeTTL is how long an authorization code can be exchanged.
	CodeTTL = 10 * time.Minute
	// Scope is the only scope the vendor knows.
	Scope = "team_read"
)

// Paging limits of the list endpoints.
const (
	DefaultPerPage = 20
	MaxPerPage     = 100
)

// Route patterns, the keys of Stats.ByRoute.
const (
	RouteTeams          = "/v1/teams"
	RouteTeam           = "/v1/teams/{id}"
	RouteTeamSessions   = "/v1/teams/{id}/training_sessions"
	RouteTeamSession    = "/v1/teams/training_sessions/{id}"
	RoutePlayerSessions = "/v1/players/{id}/training_sessions"
	RoutePlayerSession  = "/v1/training_sessions/{id}"
	RouteSessionSummary = "/v1/training_sessions/{id}/session_summary"
	RouteUnknown        = "(unknown)" // any other path under /v1 or outside the API
)

// Paths of the OAuth2 endpoints, relative to the mount point.
const (
	PathAuthorize = "/oauth/authorize"
	PathToken     = "/oauth/token"
)

// Session types.
const (
	TypeTeam       = "TEAM"
	TypeIndividual = "INDIVIDUAL"
)

// Wire layouts: wall-clock times without a zone, zoned times in UTC with
// "Z"; the fraction only when the time has one.
const (
	wallLayout  = "2006-01-02T15:04:05.999"
	zonedLayout = "2006-01-02T15:04:05.999Z07:00"
)

// Options configures a Server.
type Options struct {
	Seed int64
	// Scale is the organisation's size (sandbox.ScaleSmall, ScaleMedium,
	// ScaleLarge):
	//   - small is the demo: 1 team of 6 players, 3 team sessions of
	//     20–40 minutes with every player, and 2 INDIVIDUAL sessions; a full
	//     backfill takes 50 requests, inside the vendor's burst of 100;
	//   - medium: 2 teams of 12 players, 10 team sessions each of
	//     45–90 minutes, 12 INDIVIDUAL sessions (~10 million samples);
	//   - large: 4 teams of 20 players, 40 team sessions each of 45–90
	//     minutes, 80 INDIVIDUAL sessions (~120 million samples, generated
	//     on demand).
	Scale scale.Scale
	// ClientID and ClientSecret are the one registered OAuth2 client.
	ClientID     string
	ClientSecret string
	// RedirectURL is the registered redirect URI, used when the authorize
	// request names none. A loopback redirect URI
	// (http://127.0.0.1:<port>/..., http://localhost:<port>/...,
	// http://[::1]:<port>/...) is accepted too (RFC 8252, section 7.3).
	RedirectURL string
	// AccessTTL is an access token's lifetime (0: 12 h, announced as
	// expires_in 43199 like the vendor's example). expires_in is the
	// lifetime in whole seconds minus one, at least 1.
	AccessTTL time.Duration
	// Rate is the token bucket's refill in requests per second per client
	// (0: 1); Burst its size (0: 100; negative: no rate limit at all).
	Rate  float64
	Burst int
	// MaxDuration, if set, caps every session's duration, and so its
	// samples and RR intervals (tests that need the sessions of a scale,
	// not their hours of 10 Hz data).
	MaxDuration time.Duration
	// Clock is the real clock: token and code expiry, the rate bucket and
	// the Date header (nil: time.Now).
	Clock func() time.Time
	// Start is the data's virtual "now" (zero: DefaultStart; truncated to
	// the second); the generated history lies before it.
	Start time.Time
}

// Dataset is the simulator's ground truth, sorted in the API's order
// (teams by created then id, sessions by start time then id).
//
// Times: wall-clock times (the wire sends them without a zone) are kept as
// a time.Time in the UTC location that holds the wall-clock reading; zoned
// times (sent with "Z") are UTC instants. All are truncated to the
// millisecond.
type Dataset struct {
	Teams          []Team          `json:"teams"`
	TeamSessions   []TeamSession   `json:"team_sessions"`
	PlayerSessions []PlayerSession `json:"player_sessions"`
}

// Team is a team with its roster.
type Team struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Organisation string    `json:"organisation"`
	Created      time.Time `json:"created" wire:"zoned"`
	Modified     time.Time `json:"modified" wire:"zoned"`
	Players      []Player  `json:"players"`
}

// Player is a member of a team's roster.
type Player struct {
	PlayerID     string `json:"player_id"`
	PlayerNumber int    `json:"player_number"`
	Role         string `json:"role"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
}

// TeamSession is a team training session.
type TeamSession struct {
	ID       string    `json:"id"`
	TeamID   string    `json:"team_id"`
	Name     string    `json:"name"`
	Type     string    `json:"type"` // TRAINING, DRILL, TEST, GAME, MATCH, STRENGTH AND CONDITION, OTHER
	Note     *string   `json:"note"`
	Created  time.Time `json:"created" wire:"zoned"`
	Modified time.Time `json:"modified" wire:"zoned"`
	// Wall clock: RecordStartTime <= StartTime < EndTime <= RecordEndTime.
	RecordStartTime time.Time `json:"record_start_time"`
	RecordEndTime   time.Time `json:"record_end_time"`
	StartTime       time.Time `json:"start_time"`
	EndTime         time.Time `json:"end_time"`
	// Latitude and Longitude carry float32 precision, like the vendor's
	// (55.67336654663086); nil for sessions without location.
	Latitude     *float64      `json:"latitude"`
	Longitude    *float64      `json:"longitude"`
	Sport        string        `json:"sport"`
	Arena        *string       `json:"arena"`
	Participants []Participant `json:"participants"`
	Markers      []Marker      `json:"markers"`
}

// Participant maps a player of a team session to the player's session.
type Participant struct {
	PlayerID        string `json:"player_id"`
	PlayerNumber    int    `json:"player_number"`
	Role            string `json:"role"`
	PlayerSessionID string `json:"player_session_id"`
}

// Marker is a phase, note or recovery marked in a team session. Its times
// are zoned (sent with "Z", with milliseconds).
type Marker struct {
	StartTime  time.Time `json:"start_time" wire:"zoned"`
	EndTime    time.Time `json:"end_time" wire:"zoned"`
	MarkerType string    `json:"marker_type"` // PHASE, NOTE, RECOVERY
	Name       string    `json:"name"`
	Note       *string   `json:"note"`
}

// PlayerSession is one player's training session: TEAM (part of a team
// session) or INDIVIDUAL.
type PlayerSession struct {
	ID            string  `json:"id"`
	PlayerID      string  `json:"player_id"`       // not on the wire: the list's path names it
	TeamSessionID *string `json:"team_session_id"` // not on the wire; nil for INDIVIDUAL
	Type          string  `json:"type"`            // TEAM or INDIVIDUAL

	Created  time.Time `json:"created" wire:"zoned"`
	Modified time.Time `json:"modified" wire:"zoned"`
	Sport    string    `json:"sport"`
	Name     string    `json:"name"`
	// Feeling is raw, as sent: sometimes with a trailing comma ("AWESOME,").
	Feeling *string `json:"feeling"`
	Note    *string `json:"note"`
	// Latitude and Longitude are the first GPS fix, at float32 precision.
	Latitude  *float64  `json:"latitude"`
	Longitude *float64  `json:"longitude"`
	StartTime time.Time `json:"start_time"` // wall clock
	StopTime  time.Time `json:"stop_time"`  // wall clock
	// DurationMs is StopTime - StartTime: one sample per 100 ms.
	DurationMs int64 `json:"duration_ms"`
	// TimezoneOffset is in minutes (60 or 120: CET/CEST); only the list
	// endpoint sends it; nil for a few sessions.
	TimezoneOffset *int `json:"timezone_offset"`

	Calories       *float64 `json:"calories"`
	DistanceMeters *float64 `json:"distance_meters"`
	TrainingLoad   *float64 `json:"training_load"`
	CardioLoad     *float64 `json:"cardio_load"`
	MuscleLoad     *float64 `json:"muscle_load"`
	RecoveryTimeMs *float64 `json:"recovery_time_ms"`
	FatPercentage  *int     `json:"fat_percentage"`
	HeartRateMax   *int     `json:"heart_rate_max"`
	HeartRateAvg   *int     `json:"heart_rate_avg"`
	RunningIndex   *int     `json:"running_index"`
	SprintCounter  *int     `json:"sprint_counter"`
	Ascent         *float64 `json:"ascent"`
	Descent        *float64 `json:"descent"`
	Product        *string  `json:"product"`

	// Fields are the columns of the wire's sample rows for samples=all:
	// "time" first, then a seeded subset of distance, hr, speed, cadence,
	// lat, lon, altitude, forward_acceleration and power, in the
	// documented order or (a third of the sessions) shuffled. A sample
	// value of a field not listed is null in the truth. The time column is
	// an ISO-8601 duration in one of three spellings per session:
	// "PT1M0.1S" (zero parts left out), "PT0H1M0.1S" (all parts) or
	// "PT60.1S" (seconds only).
	Fields []string `json:"fields"`
	// Samples are the truth, one per 100 ms. For generated sessions they
	// are nil inside Mutate and in TruthWithoutSamples (they are produced
	// on demand): nil means "as generated", an empty slice means none;
	// setting them replaces the generated ones.
	Samples []Sample `json:"samples"`
	// Extra maps a row index to the number of extra numbers its wire row
	// carries after the Fields' values (anomalies a client must count).
	// Short maps a row index to the number of trailing values its wire row
	// leaves out (null in the truth; the first column is always sent).
	// Both apply to samples=all responses only.
	Extra map[int]int `json:"extra"`
	Short map[int]int `json:"short"`
	// RR are the RR intervals in ms, nulls in place; nil (for generated
	// sessions: "as generated") or absent on the wire for sessions without.
	RR []*int `json:"rr_intervals"`
	// Summary is the trimmed summary; nil for INDIVIDUAL sessions
	// (/session_summary answers 404 for them).
	Summary *Summary `json:"summary"`
}

// Sample is one 10 Hz sample. A nil value is null on the wire.
type Sample struct {
	OffsetMs            int64    `json:"time"` // the wire's ISO-8601 duration
	Distance            *float64 `json:"distance"`
	HR                  *float64 `json:"hr"`
	Speed               *float64 `json:"speed"` // m/s
	Cadence             *float64 `json:"cadence"`
	Lat                 *float64 `json:"lat"`
	Lon                 *float64 `json:"lon"`
	Altitude            *float64 `json:"altitude"`
	ForwardAcceleration *float64 `json:"forward_acceleration"` // m/s²
	Power               *int64   `json:"power"`
}

// Summary is a player's trimmed team-session summary, computed from the
// session's samples (for a field the session does not send, from the
// device's own recording):
//   - heart rate max/avg/min over the non-null hr samples; the percentages
//     of the player's maximum heart rate (the top zone's higher limit);
//   - speed avg/max: the mean and maximum of the speed samples, in km/h,
//     one decimal; distance: the last distance sample;
//   - cadence avg over the samples with a non-zero cadence, max over all;
//   - sprint_counter: runs of at least 10 samples (1 s) at 6.5 m/s or more;
//   - HeartRateZones (limits 50/60/70/80/90/100 % of the player's maximum):
//     a sample is in zone i when lower_limit <= hr < higher_limit, the top
//     zone taking everything from its lower limit up; in_zone = 100 ms per
//     sample;
//   - SpeedZones: the distance gained at samples whose speed (km/h) is in
//     [lower_limit, higher_limit), rounded to 0.1 m;
//   - AccelerationZones: an acceleration is a run of samples with
//     forward_acceleration >= 1 (or <= -1) m/s²; its peak puts it in the
//     zone of the largest limit it reaches (1, 2, 3 or -1, -2, -3);
//   - PowerZones: like heart-rate zones over power, with the work done in
//     the zone (kJ, 0.1 precision) as in_zone_muscle_load; sessions without
//     power send the zones with zero time;
//   - muscle_load is the work of the whole session (kJ), cardio_load
//     Banister's TRIMP, training_load 1.3 × TRIMP rounded, kilo_calories
//     Keytel's formula on the average heart rate.
//
// Durations (in_zone) are spelled like the session's sample times.
type Summary struct {
	PlayerSessionID     string      `json:"player_session_id"`
	Created             time.Time   `json:"created" wire:"zoned"`
	Modified            time.Time   `json:"modified" wire:"zoned"` // the later of the team session's and the player session's
	TrimmedStartTime    time.Time   `json:"trimmed_start_time"`
	DurationMs          int64       `json:"duration_ms"`
	DistanceMeters      *float64    `json:"distance_meters"`
	KiloCalories        *float64    `json:"kilo_calories"`
	HeartRateMax        *int        `json:"heart_rate_max"`
	HeartRateAvg        *int        `json:"heart_rate_avg"`
	HeartRateMin        *int        `json:"heart_rate_min"`
	HeartRateMaxPercent *int        `json:"heart_rate_max_percent"`
	HeartRateAvgPercent *int        `json:"heart_rate_avg_percent"`
	HeartRateMinPercent *int        `json:"heart_rate_min_percent"`
	SprintCounter       *int        `json:"sprint_counter"`
	SpeedAvgKmh         *float64    `json:"speed_avg_kmh"`
	SpeedMaxKmh         *float64    `json:"speed_max_kmh"`
	CadenceAvg          *int        `json:"cadence_avg"`
	CadenceMax          *int        `json:"cadence_max"`
	TrainingLoad        *float64    `json:"training_load"`
	CardioLoad          *float64    `json:"cardio_load"`
	MuscleLoad          *float64    `json:"muscle_load"`
	HeartRateZones      []HRZone    `json:"heart_rate_zones"`
	SpeedZones          []SpeedZone `json:"speed_zones_kmh"`
	AccelerationZones   []AccelZone `json:"acceleration_zones_ms2"`
	PowerZones          []PowerZone `json:"power_zones"`
}

// HRZone is time in a heart-rate zone; the wire sends InZoneMs as an
// ISO-8601 duration ("PT4S", "PT1M2.3S", "PT1H5.1S", "PT0H4M0S").
type HRZone struct {
	Index       int   `json:"index"`
	LowerLimit  int   `json:"lower_limit"`
	HigherLimit int   `json:"higher_limit"`
	InZoneMs    int64 `json:"in_zone" wire:"duration"`
}

// SpeedZone is distance in a speed zone (km/h).
type SpeedZone struct {
	Index        int     `json:"index"`
	LowerLimit   int     `json:"lower_limit"`
	HigherLimit  int     `json:"higher_limit"`
	InZoneMeters float64 `json:"in_zone_meters"`
}

// AccelZone counts accelerations (limit > 0) or decelerations (limit < 0).
type AccelZone struct {
	Limit   int     `json:"limit"`
	Counter float64 `json:"counter"`
}

// PowerZone is time and work in a power zone (W).
type PowerZone struct {
	Index            int     `json:"index"`
	LowerLimit       int     `json:"lower_limit"`
	HigherLimit      int     `json:"higher_limit"`
	InZoneMs         int64   `json:"in_zone" wire:"duration"`
	InZoneMuscleLoad float64 `json:"in_zone_muscle_load"`
}
