package optimo

import "time"

// The daily quota: every authenticated request to the endpoint counts
// (fail responses, injected faults and the refused requests included), per
// account (the admin's and the coach's tokens share it), the day taken in
// the account's zone on Options.Clock. Requests beyond DailyQuota in a day
// are refused until local midnight.

// roll starts a new count when the local day changed. Call with quotaMu
// held.
func (s *Server) roll() {
	if day := s.clock().In(s.loc).Format(DateLayout); day != s.quotaDay {
		s.quotaDay, s.quotaUsed = day, 0
	}
}

// spend counts a request and reports whether it is within the day's quota
// (and the quota).
func (s *Server) spend() (bool, int) {
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	s.roll()
	s.quotaUsed++
	return s.quotaUsed <= s.quota, s.quota
}

// SetQuotaUsed pretends n requests were already made today (for tests).
func (s *Server) SetQuotaUsed(n int) {
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	s.roll()
	s.quotaUsed = max(n, 0)
}

// QuotaUsed is the number of requests counted today (refused ones
// included, so it may exceed the quota).
func (s *Server) QuotaUsed() int {
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	s.roll()
	return s.quotaUsed
}

// untilMidnight is the whole seconds (at least 1) until the next local
// midnight on the quota's clock: the Retry-After of a 429.
func (s *Server) untilMidnight() int {
	now := s.clock().In(s.loc)
	next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, s.loc)
	return max(int(next.Sub(now).Seconds()+0.999), 1)
}
