package guardian

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// PermissionBits is one member of a token's pem claim: the mask of the
// permissions of Group the token grants (see [Permissions]).
type PermissionBits struct {
	Group string
	// Bits is the bitwise OR of the values of the permissions granted;
	// [AllPermissions] (-1) grants them all.
	Bits int64
}

// PermissionBits returns the mask c's pem claim holds for group.
func (c *Claims) PermissionBits(group string) (int64, bool) {
	for _, pb := range c.Permissions {
		if pb.Group == group {
			return pb.Bits, true
		}
	}
	return 0, false
}

// pemClaim is the pem claim on the wire: a JSON object from group name to
// an integer, with the groups sorted.
type pemClaim []PermissionBits

func (p pemClaim) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, pb := range p {
		if i > 0 {
			b = append(b, ',')
		}
		name, err := json.Marshal(pb.Group)
		if err != nil {
			return nil, err
		}
		b = append(b, name...)
		b = append(b, ':')
		b = strconv.AppendInt(b, pb.Bits, 10)
	}
	return append(b, '}'), nil
}

func (p *pemClaim) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*p = nil
		return nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return pemTypeError()
	}
	list := make(pemClaim, 0, len(members))
	for group, raw := range members {
		bits, ok := parseMask(string(raw))
		if !ok {
			return pemTypeError()
		}
		list = append(list, PermissionBits{Group: group, Bits: bits})
	}
	slices.SortFunc(list, func(a, b PermissionBits) int { return strings.Compare(a.Group, b.Group) })
	*p = list
	return nil
}

func pemTypeError() error {
	return &json.UnmarshalTypeError{Value: "pem", Field: "pem"}
}

// parseMask reads a JSON integer, -?(0|[1-9][0-9]*), that fits in an
// int64: what Elixir Guardian's bitwise encoding writes for a group.
func parseMask(s string) (int64, bool) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// addPermission puts pb into the sorted list, replacing a group already
// there (encoding/json keeps the last of repeated members).
func addPermission(list []PermissionBits, pb PermissionBits) []PermissionBits {
	i, found := slices.BinarySearchFunc(list, pb.Group, func(x PermissionBits, g string) int { return strings.Compare(x.Group, g) })
	if found {
		list[i] = pb
		return list
	}
	return slices.Insert(list, i, pb)
}
