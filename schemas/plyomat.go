package schemas

// Plyomat declares the tables of the Plyomat Open API. Only athletes, reps and
// the envelope are documented by the vendor; the other tables carry the fields
// the API is seen to send, and anything else lands in _extra.
func Plyomat() []*Table {
	const src = "plyomat"
	created := ts("created_at", "When the record was created at Plyomat (UTC).")
	updated := ts("updated_at", "When the record was last changed at Plyomat (UTC).")
	return markPrivacy([]*Table{
		{
			Source: src, Name: "athletes", Endpoint: "GET /athletes", Mode: Snapshot, Key: []string{"id"},
			Doc: "The roster: one row per athlete.",
			Columns: []Column{
				str("id", "Athlete id."), str("first_name", ""), str("last_name", ""), str("gender", "As sent."),
				num("body_weight_kg", "Body weight in kilograms."),
				str("external_id", "Id in an external system, if linked."), str("external_source", "Which external system."),
				created, updated,
			},
		},
		{
			Source: src, Name: "groups", Endpoint: "GET /groups", Mode: Snapshot, Key: []string{"id"},
			Doc:     "Groups that organise the roster.",
			Columns: []Column{str("id", "Group id."), str("name", ""), str("description", ""), created, updated},
		},
		{
			Source: src, Name: "group_members", Endpoint: "GET /athletes?group_id=", Mode: Snapshot,
			Key: []string{"group_id", "athlete_id"},
			Doc: "Which athletes belong to which group (from the athlete list filtered by group).",
			Columns: []Column{
				derived("group_id", "Group id (the filter the list was read with)."),
				{Name: "athlete_id", Type: String, Field: "id", Doc: "Athlete id."},
			},
		},
		{
			Source: src, Name: "devices", Endpoint: "GET /devices", Mode: Snapshot, Key: []string{"id"},
			Doc: "Jump mats and controllers registered to the organisation.",
			Columns: []Column{
				str("id", "Device id."), str("serial_number", ""), str("model", ""), str("firmware_version", ""), created, updated,
			},
		},
		{
			Source: src, Name: "sessions", Endpoint: "GET /sessions", Key: []string{"id"}, Partition: month("started_at"),
			Doc: "Test sessions: one row per session, latest version.",
			Columns: []Column{
				str("id", "Session id."), str("athlete_id", ""), str("device_id", "Device that captured the session."),
				str("name", ""), ts("started_at", "Session start (UTC)."), ts("ended_at", "Session end (UTC)."),
				str("notes", ""), created, updated,
			},
		},
		{
			Source: src, Name: "sets", Endpoint: "GET /sets", Key: []string{"id"}, Partition: month("started_at"),
			Doc: "Sets of jumps within a session; their reps are in plyomat_reps.",
			Columns: []Column{
				str("id", "Set id."), str("session_id", ""), str("athlete_id", ""),
				str("mode", "Jump protocol as sent (cmj, squat_jump, drop_jump, rebound, ...)."),
				num("drop_height_cm", "Drop height for drop jumps, in cm."),
				ts("started_at", "Set start (UTC)."), created, updated,
			},
		},
		{
			Source: src, Name: "reps", Endpoint: "GET /sets (embedded reps)", Key: []string{"set_id", "rep_index"},
			Partition: Partitioning{Key: "month", Granularity: Month},
			Parent:    &Parent{Table: "sets", Field: "reps", Keys: map[string]string{"set_id": "id"}},
			Doc:       "Individual jumps, flattened out of their set; rows belong to the latest version of the set.",
			Columns: []Column{
				derived("set_id", "The set the rep belongs to."), integer("rep_index", "Index of the rep within its set, as sent."),
				integer("flight_time_ms", "Flight time in milliseconds."),
				integer("contact_time_ms", "Ground contact time in milliseconds (null for jumps from standing)."),
				num("jump_height_cm", "Jump height from flight time, g·t²/8, in cm."),
				num("rsi", "Reactive strength index: jump height (m) / contact time (s)."),
				str("side", "left, right or both, as sent."), flag("is_kept", "Whether the coach kept the rep."),
				ts("captured_at", "When the rep was captured (UTC)."),
			},
		},
		{
			Source: src, Name: "assessments", Endpoint: "GET /assessments", Mode: Snapshot, Key: []string{"id"},
			Doc: "Computed assessment results.",
			Columns: []Column{
				str("id", "Assessment id."), str("athlete_id", ""), str("name", ""),
				num("score", "Score in the unit of the unit column."), str("unit", ""),
				ts("assessed_at", "When the assessment was taken (UTC)."), created, updated,
			},
		},
		{
			Source: src, Name: "org_members", Endpoint: "GET /org/members?include_archived=true", Mode: Snapshot, Key: []string{"id"},
			NotStudyData: true,
			Doc:          "Coaches and staff on the account, archived ones included.",
			Columns: []Column{
				str("id", "Member id."), str("email", ""), str("first_name", ""), str("last_name", ""), str("role", "As sent."),
				flag("archived", "Whether the member is archived."), ts("archived_at", "When archived (UTC)."),
				created, updated,
			},
		},
		{
			Source: src, Name: "webhook_events", Endpoint: "POST /webhooks/plyomat (deliveries to athlake webhooks serve)",
			Key: []string{"event_id"}, Partition: month("received_at"), NotStudyData: true,
			Doc: "Webhook events received and applied: one row per event, however often it was delivered.",
			Columns: []Column{
				str("event_id", "Event id (the same across redeliveries)."),
				str("event_type", "set.completed, session.started, athlete.archived, ... as sent."),
				str("delivery_id", "The delivery that was stored (the first to arrive)."),
				integer("source_version", "Payload format version, as sent."),
				ts("signed_at", "The delivery's signed timestamp (t= of X-Plyomat-Signature, UTC)."),
				ts("received_at", "When the receiver started reading the delivery (UTC)."),
				ts("verified_at", "When its signature was verified (UTC)."),
				{Name: "payload", Type: JSON, Doc: "The changed record as the delivery carried it."},
				derived("record_id", "The id of the changed record (payload.id)."),
				derived("action", "What applying it did: pulled (the record fetched by id), applied (an assessment written from the payload), gone (the record no longer exists at Plyomat: 404), or recorded (the next sync refreshes its table)."),
			},
		},
	}, map[string]Privacy{
		"athletes.id": Person, "athletes.first_name": Identifying, "athletes.last_name": Identifying, "athletes.external_id": Identifying,
		"group_members.athlete_id": Person, "sessions.athlete_id": Person, "sessions.notes": Identifying, "sets.athlete_id": Person,
		"assessments.athlete_id": Person, "org_members.email": Identifying, "org_members.first_name": Identifying, "org_members.last_name": Identifying,
		"webhook_events.payload": Identifying, "webhook_events.record_id": Identifying,
		"sessions.name": Identifying, "groups.description": Identifying, "org_members.id": Identifying,
	})
}
