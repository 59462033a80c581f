package main

import "net/http"

// healthJSON is the answer of GET /healthz.
type healthJSON struct {
	Status string `json:"status"` // "ok" or "unavailable"
	// Issuers names each issuer whose keys are not loaded, with why (the
	// last fetch's failure, in short); absent when all are ready.
	Issuers map[string]string `json:"issuers,omitempty"`
}

// healthz answers 200 {"status":"ok"} when the keys of every trusted
// issuer are loaded, so that its tokens can be verified, and otherwise 503
// {"status":"unavailable","issuers":{"<issuer URL>":"<reason>"}} with
// Retry-After. It asks nothing of the issuers: guardian keeps their keys
// current in the background.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if down := s.trust.notReady(); down != nil {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, healthJSON{Status: "unavailable", Issuers: down})
		return
	}
	writeJSON(w, http.StatusOK, healthJSON{Status: "ok"})
}
