package sigmafake

import "net/http"

func (s *Server) scimRoutes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "Not found")
	})
}
