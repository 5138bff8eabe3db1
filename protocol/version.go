package protocol

import (
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// APIRange is one API key with the versions a broker serves, inclusive. The broker's single API table
// (broker/apis.go) converts to these for ParseRequest and for ApiVersions.
type APIRange struct {
	Key, Min, Max int16
}

// Contains reports whether version lies in r.
func (r APIRange) Contains(version int16) bool { return version >= r.Min && version <= r.Max }

// ValidateRanges checks a table once at start-up: keys known to kmsg and not repeated, 0 <= Min <= Max, and
// Max no higher than kmsg can decode. It reports every problem.
func ValidateRanges(ranges []APIRange) error {
	var errs []error
	seen := make(map[int16]bool, len(ranges))
	for _, r := range ranges {
		req := kmsg.RequestForKey(r.Key)
		switch {
		case req == nil:
			errs = append(errs, fmt.Errorf("api key %d: unknown", r.Key))
		case seen[r.Key]:
			errs = append(errs, fmt.Errorf("api key %d (%s): listed twice", r.Key, kmsg.NameForKey(r.Key)))
		case r.Min < 0 || r.Min > r.Max:
			errs = append(errs, fmt.Errorf("api key %d (%s): bad range %d..%d", r.Key, kmsg.NameForKey(r.Key), r.Min, r.Max))
		case r.Max > req.MaxVersion():
			errs = append(errs, fmt.Errorf("api key %d (%s): max %d above kmsg's %d", r.Key, kmsg.NameForKey(r.Key), r.Max, req.MaxVersion()))
		}
		seen[r.Key] = true
	}
	return errors.Join(errs...)
}

// SupportedFunc returns a supported func for ParseRequest answering from ranges with one array lookup.
// Keys outside kmsg's range are never supported.
func SupportedFunc(ranges []APIRange) func(key, version int16) bool {
	var table [kmsg.MaxKey + 1]struct {
		ok       bool
		min, max int16
	}
	for _, r := range ranges {
		if r.Key >= 0 && int(r.Key) < len(table) {
			table[r.Key].ok, table[r.Key].min, table[r.Key].max = true, r.Min, r.Max
		}
	}
	return func(key, version int16) bool {
		if key < 0 || int(key) >= len(table) {
			return false
		}
		e := &table[key]
		return e.ok && version >= e.min && version <= e.max
	}
}

// APIVersionsKeys converts ranges to the ApiKeys of an ApiVersions response, sorted by key.
func APIVersionsKeys(ranges []APIRange) []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(ranges))
	for _, r := range ranges {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = r.Key, r.Min, r.Max
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}
