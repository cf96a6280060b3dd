package scimserver

import (
	"encoding/json"
	"net/http"

	"github.com/scimbridge/scim-bridge/internal/scim/query"
)

// writePage answers the ListResponse of one page of n resources out of
// total, rendering, projecting and encoding one resource at a time
// (render(i) renders the i-th), so that a page of large groups holds one
// rendered group at a time rather than all of them: a group of 25,000
// members renders to maps several times the size of its JSON. The bytes
// are those of writeJSON(w, http.StatusOK, q.Response(...)).
func writePage(w http.ResponseWriter, q query.Query, total, n int, render func(i int) map[string]any) {
	res := make([][]byte, 0, n)
	for i := range n {
		b, err := json.Marshal(q.Projection.Apply(render(i)))
		if err != nil {
			writeEncodeFailure(w)
			return
		}
		res = append(res, b)
	}
	env := q.Response(nil, total)
	delete(env, "Resources")
	env["itemsPerPage"] = n
	tail, err := json.Marshal(env)
	if err != nil {
		writeEncodeFailure(w)
		return
	}
	// json.Marshal orders an object's keys, and "Resources" sorts first.
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"Resources":[`))
	for i, b := range res {
		if i > 0 {
			_, _ = w.Write([]byte(","))
		}
		_, _ = w.Write(b)
	}
	_, _ = w.Write([]byte("],"))
	_, _ = w.Write(tail[1:])
}
