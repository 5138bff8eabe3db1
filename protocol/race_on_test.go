//go:build race

package protocol

// raceEnabled: the race detector changes allocation sizes, so tests that measure bytes allocated skip.
const raceEnabled = true
