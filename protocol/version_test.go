package protocol

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestValidateRanges(t *testing.T) {
	if err := ValidateRanges(kafka28Ranges); err != nil {
		t.Fatalf("Kafka 2.8's own table: %v", err)
	}
	err := ValidateRanges([]APIRange{{3, 0, 11}, {3, 0, 9}, {0, 5, 3}, {1, -1, 4}, {18, 0, 99}, {kmsg.MaxKey + 1, 0, 0}})
	if err == nil {
		t.Fatal("bad table accepted")
	}
	for _, want := range []string{"listed twice", "bad range 5..3", "bad range -1..4", "max 99 above", "unknown"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestSupportedFunc(t *testing.T) {
	ok := SupportedFunc([]APIRange{{0, 3, 9}, {18, 0, 3}})
	for _, tc := range []struct {
		key, version int16
		want         bool
	}{
		{0, 3, true}, {0, 9, true}, {0, 2, false}, {0, 10, false}, {18, 0, true}, {18, 4, false},
		{1, 4, false}, {-1, 0, false}, {kmsg.MaxKey + 1, 0, false}, {32767, 0, false},
	} {
		if got := ok(tc.key, tc.version); got != tc.want {
			t.Errorf("key %d v%d: %v", tc.key, tc.version, got)
		}
	}
	if !(APIRange{0, 3, 9}).Contains(3) || (APIRange{0, 3, 9}).Contains(10) {
		t.Error("Contains")
	}
}

func TestAPIVersionsKeysSorted(t *testing.T) {
	keys := APIVersionsKeys([]APIRange{{18, 0, 3}, {0, 3, 9}, {3, 0, 11}})
	want := []APIRange{{0, 3, 9}, {3, 0, 11}, {18, 0, 3}}
	if len(keys) != len(want) {
		t.Fatal(keys)
	}
	for i, k := range keys {
		if (APIRange{k.ApiKey, k.MinVersion, k.MaxVersion}) != want[i] {
			t.Fatalf("%d: %+v", i, k)
		}
	}
}
