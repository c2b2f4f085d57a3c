package flows

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/authwatch/authwatch/internal/conf"
)

// Values of Flow.LocationsPolicy.
const (
	// LocationsAll: a failure incident opens only while the flow fails
	// from every location that ran it (the default).
	LocationsAll = "all"
	// LocationsAny: a failure from any location counts.
	LocationsAny = "any"
)

// locationName is a probe location's name, as cluster.location takes it.
var locationName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// RunsIn reports whether the flow runs from location: every flow does when
// it names no location.
func (f *Flow) RunsIn(location string) bool {
	return len(f.Locations) == 0 || slices.Contains(f.Locations, location)
}

// PageOnAny reports whether a failure from any one location counts as the
// flow failing (locations_policy: any).
func (f *Flow) PageOnAny() bool { return f.LocationsPolicy == LocationsAny }

// validateLocations checks locations and locations_policy.
func validateLocations(f *Flow) error {
	var errs []error
	if f.Locations != nil && len(f.Locations) == 0 {
		errs = append(errs, conf.FieldErrorf("locations", "must name at least one location, e.g. [eu-west]; leave it out to run from every location"))
	}
	seen := map[string]bool{}
	for i, loc := range f.Locations {
		field := fmt.Sprintf("locations[%d]", i)
		switch {
		case !locationName.MatchString(loc):
			errs = append(errs, conf.FieldErrorf(field, "must be lower-case letters, digits, '.', '_' or '-' (at most 63), as a node's cluster.location, got %q", truncate(loc, 80)))
		case seen[loc]:
			errs = append(errs, conf.FieldErrorf(field, "location %q is listed twice", loc))
		}
		seen[loc] = true
	}
	switch f.LocationsPolicy {
	case "", LocationsAll, LocationsAny:
	default:
		errs = append(errs, conf.FieldErrorf("locations_policy", "must be all or any, got %q", truncate(f.LocationsPolicy, 80)))
	}
	return errors.Join(errs...)
}
