package sandbox

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	sbo "github.com/athlake/athlake/sandbox/optimo"
	sbp "github.com/athlake/athlake/sandbox/plyomat"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

// Person is one person of the club whom several vendors know, each under
// its own id ("" where that vendor does not know them): the ground truth
// that `athlake people suggest` is measured against.
type Person struct {
	Plyomat, Optimo, TeamPro string
	// ByExternalID: Plyomat's external_id names the Optimo athlete.
	ByExternalID bool
}

// linkPeople makes the club's people the same across vendors, as a club's
// rosters are: two thirds of the Team Pro players are also a Plyomat and
// an Optimo athlete (their names copied, as a coach types them again: a
// third exactly, a third in another case, a third without accents), half
// of those with Plyomat's external_id set to their Optimo id; two more
// people are on Plyomat and Optimo only.
func (s *Sandbox) linkPeople(seed int64) {
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e0b1e))
	var players []sbt.Player
	seen := map[string]bool{}
	for _, t := range s.TeamPro.TruthWithoutSamples().Teams {
		for _, p := range t.Players {
			if !seen[p.PlayerID] {
				seen[p.PlayerID] = true
				players = append(players, p)
			}
		}
	}
	ply, opt := s.Plyomat.Truth().Athletes, s.Optimo.Truth().Athletes
	n := min(len(players), len(ply), len(opt))
	all := n * 2 / 3
	pairs := min(2, n-all)
	type named struct{ first, last string }
	names := make([]named, all+pairs)
	for i := range all {
		names[i] = named{players[i].FirstName, players[i].LastName}
	}
	for i := all; i < all+pairs; i++ {
		names[i] = named{opt[i].FirstName, opt[i].LastName}
	}
	s.people = nil
	for i := range all + pairs {
		p := Person{Plyomat: ply[i].ID, Optimo: s.Optimo.WireID("athlete", opt[i].AthleteID)}
		if i < all {
			p.TeamPro = players[i].PlayerID
			p.ByExternalID = i%2 == 0
		}
		s.people = append(s.people, p)
	}
	s.Optimo.Mutate(func(d *sbo.Dataset) {
		for i := range all {
			d.Athletes[i].FirstName, d.Athletes[i].LastName = names[i].first, names[i].last
		}
	})
	s.Plyomat.Mutate(func(d *sbp.Dataset) {
		for i := range all + pairs {
			a := &d.Athletes[i]
			a.FirstName, a.LastName = retyped(r, names[i].first), retyped(r, names[i].last)
			if s.people[i].ByExternalID {
				src, id := "optimo", s.people[i].Optimo
				a.ExternalSource, a.ExternalID = &src, &id
			}
		}
	})
}

// retyped is a name as another person types it: as it is, in other case,
// or without its accents.
func retyped(r *rand.Rand, name string) string {
	switch r.IntN(3) {
	case 0:
		return strings.ToUpper(name)
	case 1:
		plain, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), name)
		if err == nil {
			return plain
		}
	}
	return name
}

// People is the club's people whom more than one vendor knows.
func (s *Sandbox) People() []Person { return append([]Person(nil), s.people...) }

// String names a person by their ids.
func (p Person) String() string {
	return fmt.Sprintf("plyomat:%s optimo:%s teampro:%s", p.Plyomat, p.Optimo, p.TeamPro)
}
