//go:build !race

package sigmafake

const raceEnabled = false
