package jobs

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/athlake/athlake/load/views"
)

// PeopleConfig is the section people.
type PeopleConfig struct {
	// Mapping is a CSV file of links (person_id, source, athlete_id),
	// written by the user, e.g. from `athlake people suggest`.
	Mapping string `yaml:"mapping"`
}

// mappingColumns are the columns a mapping file must have (others, such as
// a suggestion's reason, are kept for the reader and ignored).
var mappingColumns = []string{"person_id", "source", "athlete_id"}

// loadLinks reads people.mapping, if set, into c.links.
func (c *Config) loadLinks() error {
	c.links = nil
	if c.People.Mapping == "" {
		return nil
	}
	p := c.path(c.People.Mapping)
	f, err := os.Open(p)
	if err != nil {
		return &ConfigError{Key: "people.mapping", Msg: err.Error()}
	}
	defer f.Close()
	links, err := readLinks(f, names(registry))
	if err != nil {
		return &ConfigError{Key: "people.mapping", Msg: fmt.Sprintf("%s: %v", p, err)}
	}
	c.links = links
	return nil
}

// readLinks reads a mapping file: a CSV file with a header naming at least
// person_id, source and athlete_id; lines starting with # are comments. An
// athlete id linked to two people is an error.
func readLinks(r io.Reader, sources []string) ([]views.Link, error) {
	cr := csv.NewReader(r)
	cr.Comment, cr.FieldsPerRecord, cr.TrimLeadingSpace = '#', -1, true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, want := range mappingColumns {
		if _, ok := col[want]; !ok {
			return nil, fmt.Errorf("the header has no %s column (want %s)", want, strings.Join(mappingColumns, ","))
		}
	}
	var links []views.Link
	owner := map[[2]string]views.Link{}
	lineOf := map[[2]string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return links, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		field := func(name string) string {
			if i := col[name]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		l := views.Link{PersonID: field("person_id"), Source: field("source"), AthleteID: field("athlete_id")}
		switch {
		case l.PersonID == "" || l.Source == "" || l.AthleteID == "":
			return nil, fmt.Errorf("line %d: person_id, source and athlete_id are all needed", line)
		case !slices.Contains(sources, l.Source):
			return nil, fmt.Errorf("line %d: unknown source %q (known: %s)", line, l.Source, strings.Join(sources, ", "))
		}
		k := [2]string{l.Source, l.AthleteID}
		if prev, ok := owner[k]; ok {
			if prev.PersonID != l.PersonID {
				return nil, fmt.Errorf("line %d: %s %s is linked to %s here and to %s on line %d", line, l.Source, l.AthleteID, l.PersonID, prev.PersonID, lineOf[k])
			}
			continue
		}
		owner[k], lineOf[k] = l, line
		links = append(links, l)
	}
}

// people is what the views build needs to know of people: every source's
// athletes query and the links.
func (c *Config) people() *views.People {
	p := &views.People{Links: c.links}
	for _, conn := range registry {
		if conn.Athletes != "" {
			p.Sources = append(p.Sources, views.PeopleSource{Name: conn.Name, SQL: conn.Athletes})
		}
	}
	return p
}
