package scimdir

import (
	"time"

	"github.com/scimbridge/scim-bridge/internal/sigma"
)

// Seats counts the users of the last full list read from Sigma's SCIM
// endpoint (ListUsers) by userType and active, and says when that list
// was read; ok is false when none has been read yet. It makes no upstream
// call and never waits: while a list is being read it answers ok false.
// Sigma's SCIM endpoint hides archived members, so no seat is ever
// archived here; with REST credentials the REST index is the better
// source (it sees every member and every write).
func (d *Directory) Seats() (seats sigma.SeatCounts, at time.Time, ok bool) {
	if !d.users.mu.TryLock() {
		return nil, time.Time{}, false
	}
	defer d.users.mu.Unlock()
	if d.users.at.IsZero() {
		return nil, time.Time{}, false
	}
	seats = sigma.SeatCounts{}
	for _, u := range d.users.list {
		s := sigma.Seat{State: sigma.SeatActive, AccountType: u.UserType}
		if !u.Active {
			s.State = sigma.SeatInactive
		}
		seats[s]++
	}
	return seats, d.users.at, true
}
