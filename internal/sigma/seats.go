package sigma

// SeatState is what a member's seat is doing: the state half of the seat
// count (scim_bridge_sigma_seats{account_type,state}).
type SeatState string

// Seat states. A member Sigma archived (deactivated, the REST path's
// delete) is archived even when also inactive.
const (
	SeatActive   SeatState = "active"
	SeatInactive SeatState = "inactive" // SCIM active=false (isInactive)
	SeatArchived SeatState = "archived" // deactivated (isArchived)
)

// SeatStates lists every state, in display order.
var SeatStates = []SeatState{SeatActive, SeatInactive, SeatArchived}

// Seat is a member's account type and state.
type Seat struct {
	AccountType string
	State       SeatState
}

// Seat returns m's seat.
func (m Member) Seat() Seat {
	s := Seat{AccountType: m.MemberType, State: SeatActive}
	switch {
	case m.IsArchived:
		s.State = SeatArchived
	case m.IsInactive:
		s.State = SeatInactive
	}
	return s
}

// SeatCounts counts members by seat.
type SeatCounts map[Seat]int
