package main

import "net/http"

// adminUsers lists every user, sorted by ID. Its route requires the
// permission admin.users_read: others get 403 insufficient_scope.
func (s *server) adminUsers(w http.ResponseWriter, r *http.Request) {
	users := s.users.list()
	out := struct {
		Users []userJSON `json:"users"`
	}{Users: make([]userJSON, len(users))}
	for i, u := range users {
		out.Users[i] = userJSON{ID: u.ID, Email: u.Email}
	}
	writeJSON(w, http.StatusOK, out)
}
