package schemas

// TeamPro declares the tables of the Polar Team Pro API. Times the vendor
// sends without a zone are wall-clock TIMESTAMPs under their own names; the
// player-session list's timezone_offset gives the _utc columns beside them.
func TeamPro() []*Table {
	const src = "teampro"
	wall := func(name, doc string) Column {
		return Column{Name: name, Type: WallTime, Doc: doc + " (local wall clock)"}
	}
	ms := func(name, field, doc string) Column {
		return Column{Name: name, Field: field, Type: Duration, Doc: doc + " (ISO-8601 duration as milliseconds)"}
	}
	utc := func(name, of, doc string) Column {
		return Column{Name: name, Type: Timestamp, Derived: true, UTCOf: of, OffsetOf: "timezone_offset", Doc: doc + " in UTC (from timezone_offset)"}
	}
	created := ts("created", "When the record was created at Polar (UTC).")
	modified := ts("modified", "When the record was last changed at Polar (UTC).")
	inherit := Partitioning{Key: "date", Granularity: Day}
	// zones declares a table of the zones in a session summary's field: a
	// row per zone, keyed by the player session and the first of cols.
	zones := func(name, field, doc string, cols ...Column) *Table {
		return &Table{
			Source: src, Name: name, Endpoint: "session_summary " + field,
			Key: []string{"player_session_id", cols[0].Name}, Partition: inherit,
			Parent:  &Parent{Table: "session_summaries", Field: field, Keys: map[string]string{"player_session_id": "player_session_id"}},
			Doc:     doc,
			Columns: append([]Column{derived("player_session_id", "")}, cols...),
		}
	}

	return markPrivacy([]*Table{
		{
			Source: src, Name: "teams", Endpoint: "GET /v1/teams/{team_id}", Mode: Snapshot, Key: []string{"id"},
			Doc:     "Teams the authorising coach can read.",
			Columns: []Column{str("id", "Team id."), str("name", ""), str("organisation", ""), created, modified},
		},
		{
			Source: src, Name: "players", Endpoint: "GET /v1/teams/{team_id} (players)", Mode: Snapshot, Key: []string{"team_id", "player_id"},
			Parent: &Parent{Table: "teams", Field: "players", Keys: map[string]string{"team_id": "id"}},
			Doc:    "Team rosters.",
			Columns: []Column{
				derived("team_id", "Team id."), str("player_id", "Player id."), integer("player_number", "Shirt number."),
				str("role", "As sent."), str("first_name", ""), str("last_name", ""),
			},
		},
		{
			Source: src, Name: "team_sessions", Endpoint: "GET /v1/teams/training_sessions/{id}", Key: []string{"id"}, Partition: day("start_time"),
			Doc: "Team training sessions with their details.",
			Columns: []Column{
				str("id", "Team training session id."), str("team_id", ""), str("name", ""), str("type", "As sent (TRAINING, MATCH, ...)."),
				str("note", ""), created, modified,
				wall("record_start_time", "Recording start"), wall("record_end_time", "Recording end"),
				wall("start_time", "Session start"), wall("end_time", "Session end"),
				num("latitude", "Start latitude."), num("longitude", "Start longitude."), str("sport", "As sent."), str("arena", ""),
			},
		},
		{
			Source: src, Name: "session_participants", Endpoint: "GET /v1/teams/training_sessions/{id} (participants)",
			Key: []string{"team_session_id", "player_id"}, Partition: inherit,
			Parent: &Parent{Table: "team_sessions", Field: "participants", Keys: map[string]string{"team_session_id": "id"}},
			Doc:    "Who took part in a team session, with their player session.",
			Columns: []Column{
				derived("team_session_id", "Team training session id."), str("player_id", ""), integer("player_number", ""),
				str("role", ""), str("player_session_id", "The player's own training session."),
			},
		},
		{
			Source: src, Name: "session_markers", Endpoint: "GET /v1/teams/training_sessions/{id} (markers)",
			Key: []string{"team_session_id", "position"}, Partition: inherit,
			Parent: &Parent{Table: "team_sessions", Field: "markers", Keys: map[string]string{"team_session_id": "id"}},
			Doc:    "Markers (phases, notes, recoveries) set in a team session.",
			Columns: []Column{
				derived("team_session_id", "Team training session id."), position(),
				ts("start_time", "Marker start (UTC)."), ts("end_time", "Marker end (UTC)."),
				str("marker_type", "PHASE, NOTE or RECOVERY, as sent."), str("name", ""), str("note", ""),
			},
		},
		{
			Source: src, Name: "player_sessions", Endpoint: "GET /v1/training_sessions/{id} (+ timezone_offset from the player's list)",
			Key: []string{"id"}, Partition: day("start_time"),
			Doc: "Each player's training sessions, TEAM and INDIVIDUAL, with their totals.",
			Columns: []Column{
				str("id", "Player training session id."), derived("player_id", "The player (the list the session came from)."),
				str("type", "TEAM or INDIVIDUAL."), created, modified, str("sport", ""), str("name", ""),
				str("feeling", "As sent (the vendor sometimes adds a trailing comma)."), str("note", ""),
				num("latitude", ""), num("longitude", ""),
				wall("start_time", "Start"), utc("start_time_utc", "start_time", "Start"),
				wall("stop_time", "End"), utc("stop_time_utc", "stop_time", "End"),
				num("duration_ms", "Duration in milliseconds."), integer("timezone_offset", "Offset of the local time from UTC in minutes."),
				num("calories", "kcal."), num("distance_meters", ""), num("training_load", ""), num("cardio_load", ""), num("muscle_load", ""),
				num("recovery_time_ms", ""), integer("fat_percentage", "Whole percent, as sent."),
				integer("heart_rate_max", "bpm."), integer("heart_rate_avg", "bpm."), integer("running_index", ""),
				num("ascent", "m."), num("descent", "m."), integer("sprint_counter", ""), str("product", "Device used."),
			},
		},
		{
			Source: src, Name: "samples", Endpoint: "GET /v1/training_sessions/{id}?samples=all (samples)",
			Key: []string{"player_session_id", "offset_ms"}, Partition: inherit,
			Parent: &Parent{Table: "player_sessions", Field: "samples", Keys: map[string]string{"player_session_id": "id"}, Custom: true},
			Doc:    "10 Hz samples of a player session: one row per sample, a typed nullable column per documented field.",
			Columns: []Column{
				derived("player_session_id", "Player training session id."),
				{Name: "offset_ms", Type: Int64, Field: "time", Doc: "Time since the start of the session (the `time` field), ms."},
				{Name: "sample_time", Type: WallTime, Derived: true, Doc: "Session start plus offset (local wall clock)."},
				{Name: "sample_time_utc", Type: Timestamp, Derived: true, Doc: "sample_time in UTC, where the session's timezone_offset is known."},
				num("distance", "Total distance, m."), num("hr", "Heart rate, bpm."), num("speed", "Speed, as sent."),
				num("cadence", "Cadence."), num("lat", "Latitude."), num("lon", "Longitude."), num("altitude", "m."),
				num("forward_acceleration", "m/s²."), integer("power", "W."),
			},
		},
		{
			Source: src, Name: "rr_intervals", Endpoint: "GET /v1/training_sessions/{id}?samples=all (rr_intervals)",
			Key: []string{"player_session_id", "position"}, Partition: inherit,
			Parent: &Parent{Table: "player_sessions", Field: "rr_intervals", Keys: map[string]string{"player_session_id": "id"}},
			Doc:    "RR intervals of a player session, in order; nulls kept in place.",
			Columns: []Column{
				derived("player_session_id", "Player training session id."), position(),
				{Name: "rr_ms", Type: Int64, Field: FieldElement, Doc: "RR interval, ms (null where the device sent null)."},
			},
		},
		{
			Source: src, Name: "session_summaries", Endpoint: "GET /v1/training_sessions/{id}/session_summary",
			Key: []string{"player_session_id"}, Partition: day("trimmed_start_time"),
			PersonVia: &Parent{Table: "player_sessions", Keys: map[string]string{"player_session_id": "id"}},
			Doc:       "Trimmed totals of a player's team session (none for INDIVIDUAL sessions).",
			Columns: []Column{
				str("player_session_id", ""), created, modified, wall("trimmed_start_time", "Trimmed start"),
				num("duration_ms", ""), num("distance_meters", ""), num("kilo_calories", ""),
				integer("heart_rate_max", ""), integer("heart_rate_avg", ""), integer("heart_rate_min", ""),
				integer("heart_rate_max_percent", ""), integer("heart_rate_avg_percent", ""), integer("heart_rate_min_percent", ""),
				integer("sprint_counter", ""), num("speed_avg_kmh", ""), num("speed_max_kmh", ""),
				integer("cadence_avg", ""), integer("cadence_max", ""),
				num("training_load", ""), num("cardio_load", ""), num("muscle_load", ""),
			},
		},
		zones("hr_zones", "heart_rate_zones", "Time in each heart-rate zone.",
			integer("index", "Zone index."), integer("lower_limit", "bpm."), integer("higher_limit", "bpm."),
			ms("in_zone_ms", "in_zone", "Time in the zone"),
		),
		zones("speed_zones", "speed_zones_kmh", "Distance in each speed zone.",
			integer("index", "Zone index."), num("lower_limit", "km/h."), num("higher_limit", "km/h."),
			num("in_zone_meters", "Distance in the zone, m."),
		),
		zones("power_zones", "power_zones", "Time and muscle load in each power zone.",
			integer("index", "Zone index."), num("lower_limit", "W."), num("higher_limit", "W."),
			ms("in_zone_ms", "in_zone", "Time in the zone"), num("in_zone_muscle_load", ""),
		),
		zones("acceleration_zones", "acceleration_zones_ms2", "Accelerations counted per zone.",
			num("limit", "Lower boundary of the zone, m/s²."), num("counter", "Accelerations in the zone."),
		),
	}, map[string]Privacy{
		"players.player_id": Person, "players.first_name": Identifying, "players.last_name": Identifying,
		"team_sessions.note": Identifying, "session_participants.player_id": Person, "session_markers.note": Identifying,
		"player_sessions.player_id": Person, "player_sessions.note": Identifying,
		"player_sessions.latitude": Identifying, "player_sessions.longitude": Identifying,
		"samples.lat": Identifying, "samples.lon": Identifying,
		"team_sessions.latitude": Identifying, "team_sessions.longitude": Identifying, "team_sessions.arena": Identifying,
		"team_sessions.name": Identifying, "session_markers.name": Identifying, "player_sessions.name": Identifying,
		"players.player_number": Identifying, "session_participants.player_number": Identifying,
	})
}
