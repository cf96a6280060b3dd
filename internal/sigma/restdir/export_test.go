package restdir

// SetPeerPageSize sets how many audit entries one PollPeers reads, so that
// tests can fill a page with a few writes.
func SetPeerPageSize(d *Directory, n int) { d.peerPageSize = n }
