package teampro

import (
	"testing"
	"time"
)

// TestStateUpgrade: a version 1 state's team sessions ("team:<id>" in
// Seen) move to TeamSeen; a version 2 state's player session whose id
// starts with "team:" stays a player session.
func TestStateUpgrade(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	v1 := state{Seen: map[string]seen{"team:T1": {Modified: "a", Start: at}, "P1": {Modified: "b", Start: at}}}
	v1.upgrade()
	if len(v1.Seen) != 1 || v1.Seen["P1"].Modified != "b" || len(v1.TeamSeen) != 1 || v1.TeamSeen["T1"].Modified != "a" || v1.Version != stateVersion {
		t.Errorf("upgraded v1: %+v", v1)
	}
	v2 := state{Version: 2, Seen: map[string]seen{"team:odd": {Modified: "c"}}}
	v2.upgrade()
	if len(v2.Seen) != 1 || len(v2.TeamSeen) != 0 {
		t.Errorf("upgraded v2: %+v", v2)
	}
}
