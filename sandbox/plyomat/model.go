// Package plyomat is a deterministic, in-process simulator of the Plyomat
// Open API: seeded synthetic athletes, sessions, sets and physically
// plausible jumps, the paging envelope and filters of the real API, a
// virtual clock that Advance moves forward while simulating activity, and
// fault knobs (errors, 429 storms, cut and stalled connections, malformed
// bodies) for tests.
//
// The Dataset is the ground truth: what Truth returns is exactly what the
// API serves, value for value (times are kept in UTC at millisecond
// precision, the wire's precision).
package plyomat

import (
	"time"

	"github.com/athlake/athlake/sandbox/internal/scale"
)

// DefaultStart is the virtual clock's start when Options.Start is zero.
const DefaultStart = "2026-06-01T00:00:00Z"

// Options configures a Server.
type Options struct {
	Seed int64
	// Scale is the organisation's size (sandbox.ScaleSmall, ScaleMedium,
	// ScaleLarge): small ≈20 athletes and a few thousand reps, medium ≈200
	// athletes, large ≈2000 athletes and about a million reps.
	Scale scale.Scale
	// APIKey is the bearer key every request must carry
	// ("Authorization: Bearer <APIKey>"). With an empty key every request
	// is refused with 401.
	APIKey string
	// Start is the virtual clock's "now" at creation (zero: DefaultStart).
	// The generated history lies in the ~120 days before it.
	Start time.Time
}

// Dataset is the simulator's ground truth. The JSON tags of the records are
// the wire's field names.
type Dataset struct {
	Athletes    []Athlete    `json:"athletes"`
	Groups      []Group      `json:"groups"`
	Memberships []Membership `json:"memberships"`
	Devices     []Device     `json:"devices"`
	Sessions    []Session    `json:"sessions"`
	Sets        []Set        `json:"sets"`
	Assessments []Assessment `json:"assessments"`
	OrgMembers  []OrgMember  `json:"org_members"`
}

// Overrides, on any record, replace or add wire fields when the record is
// served: {"jump_height_cm": "abc"} sends a wrong-typed value, an unknown
// key adds an unknown field, and the value Omit{} removes the field.
// Override values are encoded with encoding/json.

// Omit, as an Overrides value, removes the field from the wire record.
type Omit struct{}

// Athlete is a member of the roster.
type Athlete struct {
	ID             string         `json:"id"`
	FirstName      string         `json:"first_name"`
	LastName       string         `json:"last_name"`
	Gender         string         `json:"gender"`
	BodyWeightKg   float64        `json:"body_weight_kg"`
	ExternalID     *string        `json:"external_id"`
	ExternalSource *string        `json:"external_source"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
	Overrides      map[string]any `json:"-"`
}

// Group is a named set of athletes.
type Group struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description *string        `json:"description"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	Overrides   map[string]any `json:"-"`
}

// Membership puts an athlete in a group. It is not a wire record: it is
// served through GET /athletes?group_id=.
type Membership struct {
	GroupID   string `json:"group_id"`
	AthleteID string `json:"athlete_id"`
}

// Device is a mat or controller registered to the organisation.
type Device struct {
	ID              string `json:"id"`
	SerialNumber    string `json:"serial_number"`
	Model           string `json:"model"`
	FirmwareVersion string `json:"firmware_version"`
	// Calibration is a nested object the product does not know in advance
	// (it must be preserved as an unknown field).
	Calibration map[string]any `json:"calibration"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	Overrides   map[string]any `json:"-"`
}

// Session is a test session of one athlete.
type Session struct {
	ID        string         `json:"id"`
	AthleteID string         `json:"athlete_id"`
	DeviceID  *string        `json:"device_id"`
	Name      string         `json:"name"`
	StartedAt time.Time      `json:"started_at"`
	EndedAt   *time.Time     `json:"ended_at"`
	Notes     *string        `json:"notes"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	Overrides map[string]any `json:"-"`
}

// Set is a set of jumps in a session; it embeds its reps.
type Set struct {
	ID           string         `json:"id"`
	SessionID    string         `json:"session_id"`
	AthleteID    string         `json:"athlete_id"`
	Mode         string         `json:"mode"` // cmj, squat_jump, drop_jump, rebound
	DropHeightCm *float64       `json:"drop_height_cm"`
	StartedAt    time.Time      `json:"started_at"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Reps         []Rep          `json:"reps"`
	Overrides    map[string]any `json:"-"`
}

// Rep is one jump.
type Rep struct {
	RepIndex      int            `json:"rep_index"`
	FlightTimeMs  int            `json:"flight_time_ms"`
	ContactTimeMs *int           `json:"contact_time_ms"`
	JumpHeightCm  float64        `json:"jump_height_cm"` // 9.81·t²/8, in cm, 2 decimals
	RSI           *float64       `json:"rsi"`            // (height m)/(contact s), 2 decimals
	Side          string         `json:"side"`           // left, right, both
	IsKept        bool           `json:"is_kept"`
	CapturedAt    time.Time      `json:"captured_at"`
	Overrides     map[string]any `json:"-"`
}

// Assessment is a computed assessment result.
type Assessment struct {
	ID         string         `json:"id"`
	AthleteID  string         `json:"athlete_id"`
	Name       string         `json:"name"`
	Score      float64        `json:"score"`
	Unit       string         `json:"unit"`
	AssessedAt time.Time      `json:"assessed_at"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	Overrides  map[string]any `json:"-"`
}

// OrgMember is a coach or staff member of the organisation.
type OrgMember struct {
	ID         string         `json:"id"`
	Email      string         `json:"email"`
	FirstName  string         `json:"first_name"`
	LastName   string         `json:"last_name"`
	Role       string         `json:"role"` // owner, coach, staff
	Archived   bool           `json:"archived"`
	ArchivedAt *time.Time     `json:"archived_at"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	Overrides  map[string]any `json:"-"`
}

// JumpHeightCm is the jump height for a flight time: g·t²/8 in
// centimetres, rounded to 2 decimals.
func JumpHeightCm(flightTimeMs int) float64 {
	t := float64(flightTimeMs) / 1000
	return round2(9.81 * t * t / 8 * 100)
}

// ReactiveStrengthIndex is jump height (m) over contact time (s), rounded
// to 2 decimals.
func ReactiveStrengthIndex(jumpHeightCm float64, contactTimeMs int) float64 {
	if contactTimeMs <= 0 {
		return 0
	}
	return round2((jumpHeightCm / 100) / (float64(contactTimeMs) / 1000))
}
