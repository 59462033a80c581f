package sqlstore

// ReplayTable returns the name of s's replay table, as "table" or
// "schema.table".
func ReplayTable(s *Store) string { return s.rpl.String() }
