package views

import (
	"context"
	"fmt"
	"strings"
)

// People says who is who across vendors: the sources' athletes and the
// links the user keeps (the mapping file).
type People struct {
	// Sources lists, by source, a query over its views with the columns
	// athlete_id, first_name, last_name, birth_date, external_id and
	// external_source (connector.Connector.Athletes).
	Sources []PeopleSource
	// Links tie vendor ids to a person.
	Links []Link
}

// PeopleSource is a source's athletes query.
type PeopleSource struct {
	Name, SQL string
}

// Link ties one vendor's athlete id to a person id of the user's.
type Link struct {
	PersonID, Source, AthleteID string
}

// The people views, built after the lake's tables: every vendor's athletes
// (athlake_athletes), the links (athlake_links), each vendor id's person
// (athlake_person_ids: the linked person, or source:athlete_id for an id
// no link names) and one row per person (athlake_people).
const (
	AthletesView  = "athlake_athletes"
	LinksTable    = "athlake_links"
	PersonIDsView = "athlake_person_ids"
	PeopleView    = "athlake_people"
)

// peopleSQL is the statements that (re)create the people views.
func peopleSQL(p *People) []string {
	var selects []string
	for _, s := range p.Sources {
		selects = append(selects, fmt.Sprintf(
			"SELECT %s AS source, athlete_id::VARCHAR AS athlete_id, first_name::VARCHAR AS first_name, last_name::VARCHAR AS last_name, "+
				"birth_date::DATE AS birth_date, external_id::VARCHAR AS external_id, external_source::VARCHAR AS external_source FROM (%s)",
			literal(s.Name), s.SQL))
	}
	athletes := strings.Join(selects, "\nUNION ALL\n")
	if athletes == "" {
		athletes = "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS athlete_id, NULL::VARCHAR AS first_name, NULL::VARCHAR AS last_name, " +
			"NULL::DATE AS birth_date, NULL::VARCHAR AS external_id, NULL::VARCHAR AS external_source WHERE false"
	}
	links := "SELECT NULL::VARCHAR AS person_id, NULL::VARCHAR AS source, NULL::VARCHAR AS athlete_id WHERE false"
	if len(p.Links) > 0 {
		rows := make([]string, len(p.Links))
		for i, l := range p.Links {
			rows[i] = "(" + literal(l.PersonID) + ", " + literal(l.Source) + ", " + literal(l.AthleteID) + ")"
		}
		links = "SELECT * FROM (VALUES " + strings.Join(rows, ", ") + ") AS l(person_id, source, athlete_id)"
	}
	return []string{
		"CREATE OR REPLACE TABLE " + LinksTable + " AS " + links,
		"CREATE OR REPLACE VIEW " + AthletesView + " AS " + athletes,
		"CREATE OR REPLACE VIEW " + PersonIDsView + ` AS
SELECT a.source, a.athlete_id, coalesce(l.person_id, a.source || ':' || a.athlete_id) AS person_id, l.person_id IS NOT NULL AS linked
FROM ` + AthletesView + ` a LEFT JOIN ` + LinksTable + ` l ON l.source = a.source AND l.athlete_id = a.athlete_id`,
		"CREATE OR REPLACE VIEW " + PeopleView + ` AS
SELECT p.person_id,
       arg_min(a.first_name, a.source) AS first_name,
       arg_min(a.last_name, a.source) AS last_name,
       min(a.birth_date) AS birth_date,
       count(*) AS vendor_ids,
       list(a.source || ':' || a.athlete_id ORDER BY a.source, a.athlete_id) AS ids,
       bool_or(p.linked) AS linked
FROM ` + PersonIDsView + ` p JOIN ` + AthletesView + ` a ON a.source = p.source AND a.athlete_id = p.athlete_id
GROUP BY p.person_id`,
	}
}

// createPeople (re)creates the people views with exec, which runs one
// statement.
func createPeople(ctx context.Context, p *People, exec func(ctx context.Context, stmt string) error) error {
	if p == nil {
		return nil
	}
	// One transaction: a notebook sees the links and the views of one build.
	stmts := append(append([]string{"BEGIN TRANSACTION"}, peopleSQL(p)...), "COMMIT")
	for _, stmt := range stmts {
		if err := exec(ctx, stmt); err != nil {
			exec(ctx, "ROLLBACK")
			return fmt.Errorf("people views: %w", err)
		}
	}
	return nil
}
