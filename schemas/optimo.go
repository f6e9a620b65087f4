package schemas

// Optimo declares the tables of the Optimo Sport XML API. Its times are the
// account's wall clock (config `timezone`); each sits beside a _utc column
// converted through that zone. Booleans arrive as 1/0, percentages as whole
// numbers (kept as sent).
func Optimo() []*Table {
	const src = "optimo"
	// Ids are opaque text, as sent: the vendor's are numbers today, but
	// nothing promises it, and an id must round-trip whatever it holds.
	id := func(name, doc string) Column { return Column{Name: name, Type: String, Doc: doc} }
	boolean := func(name, doc string) Column { return Column{Name: name, Type: Bool, Doc: doc + " (sent as 1/0)"} }
	wall := func(name, doc string) []Column {
		return []Column{
			{Name: name, Type: WallTime, Doc: doc + " (the account's wall clock)"},
			{Name: name + "_utc", Type: Timestamp, Derived: true, UTCOf: name, Doc: doc + " in UTC, through the account's time zone"},
		}
	}
	cols := func(parts ...any) []Column {
		var out []Column
		for _, p := range parts {
			switch p := p.(type) {
			case Column:
				out = append(out, p)
			case []Column:
				out = append(out, p...)
			}
		}
		return out
	}
	created := wall("created_at", "Created")
	updated := wall("updated_at", "Last changed")
	return markPrivacy([]*Table{
		{
			Source: src, Name: "athletes", Endpoint: "athlete.list", Key: []string{"athlete_id"},
			Doc: "Athletes of the account (incremental through updated_from).",
			Columns: cols(id("athlete_id", "Athlete id."), str("first_name", ""), str("last_name", ""), str("email", ""),
				Column{Name: "birth_date", Type: Date, Doc: "Date of birth."}, str("gender", "As sent."),
				num("height_cm", ""), num("weight_kg", ""), integer("body_fat_percentage", "Whole percent, as sent."),
				boolean("active", "Whether the athlete is active"), created, updated),
		},
		{
			Source: src, Name: "coaches", Endpoint: "coach.list", Mode: Snapshot, Key: []string{"coach_id"}, NotStudyData: true,
			Doc: "Coaches (needs the admin token; skipped with a warning for a coach token).",
			Columns: cols(id("coach_id", "Coach id."), str("first_name", ""), str("last_name", ""), str("email", ""),
				boolean("is_admin", "Whether the coach is an admin"), created, updated),
		},
		{
			Source: src, Name: "workouts", Endpoint: "workout.list", Key: []string{"workout_id"}, Partition: month("started_at"),
			Doc: "Workouts imported into Optimo (Polar, Timex, CSV).",
			Columns: cols(id("workout_id", "Workout id."), id("athlete_id", ""), str("source", "Where it was imported from, as sent."),
				str("sport", ""), wall("started_at", "Start"), integer("duration_seconds", ""), num("distance_km", ""),
				integer("avg_hr", "bpm."), integer("max_hr", "bpm."), integer("calories", "kcal."), integer("rpe", "Rating of perceived exertion."),
				integer("intensity_percentage", "Whole percent, as sent."), str("notes", ""), created, updated),
		},
		{
			Source: src, Name: "assessments", Endpoint: "assessment.list", Key: []string{"assessment_id"}, Partition: month("assessed_at"),
			Doc: "Assessments; their measured results are in optimo_assessment_results.",
			Columns: cols(id("assessment_id", "Assessment id."), id("athlete_id", ""), str("name", ""),
				wall("assessed_at", "When assessed"), str("notes", ""), created, updated),
		},
		{
			Source: src, Name: "assessment_results", Endpoint: "assessment.list (results)", Key: []string{"assessment_id", "position"},
			Partition: Partitioning{Key: "month", Granularity: Month},
			Parent:    &Parent{Table: "assessments", Field: "results", Keys: map[string]string{"assessment_id": "assessment_id"}},
			Doc:       "Measured results of an assessment, in the order sent; rows belong to the latest version of the assessment.",
			Columns: []Column{
				derived("assessment_id", "The assessment."), position(), str("metric", ""), num("value", ""), str("unit", ""),
			},
		},
	}, map[string]Privacy{
		"athletes.athlete_id": Person, "athletes.first_name": Identifying, "athletes.last_name": Identifying, "athletes.email": Identifying,
		"athletes.birth_date": BirthDate, "coaches.first_name": Identifying, "coaches.last_name": Identifying, "coaches.email": Identifying, "coaches.coach_id": Identifying,
		"workouts.athlete_id": Person, "workouts.notes": Identifying, "assessments.athlete_id": Person, "assessments.notes": Identifying,
	})
}
