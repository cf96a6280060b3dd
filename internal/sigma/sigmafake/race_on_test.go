//go:build race

package sigmafake

// raceEnabled lets the large-scale test shrink under the race detector,
// which slows JSON encoding and decoding about tenfold.
const raceEnabled = true
