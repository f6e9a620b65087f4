package optimo

import (
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// field is the text of a record's child element (false when absent).
func field(n node, name string) (string, bool) {
	for _, c := range n.Nodes {
		if c.XMLName.Local == name {
			return c.Text, true
		}
	}
	return "", false
}

// TestHostileIDs: ids are served as hostile strings, each distinct and
// read back exactly, and an athlete_id argument takes them.
func TestHostileIDs(t *testing.T) {
	f := newFixture(t, Options{Seed: 6, HostileIDs: true, RecordCalls: true})
	truth := f.s.Truth()
	seen := map[string]bool{}
	for i, n := range f.all("athlete.list", 100) {
		id, _ := field(n, "athlete_id")
		if want := f.s.WireID("athlete", truth.Athletes[i].AthleteID); id != want {
			t.Errorf("athlete %d: id %q, want %q", i, id, want)
		}
		if i < len(HostileIDs) && id != HostileIDs[i] {
			t.Errorf("athlete %d: id %q, want the hostile %q", i, id, HostileIDs[i])
		}
		if seen[id] {
			t.Errorf("id %q twice", id)
		}
		seen[id] = true
	}
	for _, a := range truth.Athletes[:len(HostileIDs)] {
		wire := f.s.WireID("athlete", a.AthleteID)
		var want []string
		for _, w := range truth.Workouts {
			if w.AthleteID == a.AthleteID {
				want = append(want, f.s.WireID("workout", w.WorkoutID))
			}
		}
		var got []string
		for _, n := range f.all("workout.list", 100, "athlete_id", wire) {
			id, _ := field(n, "workout_id")
			got = append(got, id)
			if aid, _ := field(n, "athlete_id"); aid != wire {
				t.Errorf("athlete_id=%q: a workout of %q", wire, aid)
			}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("athlete_id=%q (-want +got):\n%s", wire, d)
		}
	}
	if d := f.ok(f.post(adminToken, "workout.list", "athlete_id", "no such athlete")); len(d.list.Nodes) != 0 {
		t.Error("an unknown athlete_id has workouts")
	}
	if c := f.s.Calls(); len(c) == 0 || c[len(c)-1].Args["athlete_id"] != "no such athlete" {
		t.Errorf("the last call recorded: %+v", c[len(c)-1])
	}
	if f.s.WireID("coach", 1) != "1" {
		t.Error("coach ids are hostile too")
	}
}

// TestStampName: the change stamp under another name, still what
// updated_from filters on.
func TestStampName(t *testing.T) {
	f := newFixture(t, Options{Seed: 7, StampName: "modified"})
	truth := f.s.Truth()
	w := truth.Workouts[len(truth.Workouts)/2]
	nodes := f.all("workout.list", 100, "updated_from", w.UpdatedAt.Format(WallLayout))
	var n int
	for _, x := range truth.Workouts {
		if !x.UpdatedAt.Before(w.UpdatedAt) {
			n++
		}
	}
	if len(nodes) != n || n == 0 {
		t.Errorf("updated_from: %d workouts, want %d", len(nodes), n)
	}
	for _, x := range nodes {
		if _, ok := field(x, "updated_at"); ok {
			t.Fatal("updated_at still sent")
		}
		if _, ok := field(x, "modified"); !ok {
			t.Fatal("no modified element")
		}
	}
}

// TestSetDailyQuota: a raised limit takes effect the same day.
func TestSetDailyQuota(t *testing.T) {
	f := newFixture(t, Options{Seed: 8, DailyQuota: 1})
	f.ok(f.post(adminToken, "coach.list"))
	f.failed(f.post(adminToken, "coach.list"), http.StatusOK)
	f.s.SetDailyQuota(3)
	f.ok(f.post(adminToken, "coach.list"))
	if got := f.s.QuotaUsed(); got != 3 {
		t.Errorf("used %d", got)
	}
	if slices.ContainsFunc(f.s.Calls(), func(Call) bool { return true }) {
		t.Error("calls recorded without RecordCalls")
	}
}
