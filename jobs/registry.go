package jobs

import (
	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/optimo"
	"github.com/athlake/athlake/extract/plyomat"
	"github.com/athlake/athlake/extract/teampro"
	"github.com/athlake/athlake/schemas"
)

// registry is every source athlake knows, in the order runs and listings
// take them. Adding a vendor is its package and one entry here.
var registry = []connector.Connector{
	plyomat.Connector,
	optimo.Connector,
	teampro.Connector,
}

// lookup finds a source by name.
func lookup(name string) (connector.Connector, bool) {
	for _, c := range registry {
		if c.Name == name {
			return c, true
		}
	}
	return connector.Connector{}, false
}

// tables is the registry of every table of every source; the declarations
// are constants of the program, and TestRegistry proves them valid.
func tables() *schemas.Registry {
	var all [][]*schemas.Table
	for _, c := range registry {
		all = append(all, c.Tables())
	}
	r, err := schemas.NewRegistry(all...)
	if err != nil {
		panic(err)
	}
	return r
}
