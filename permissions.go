package guardian

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// MaxGroupPermissions is the most permissions a group declared as a list
// can hold: they take bits 0 to 62 of the group's mask, a signed 64-bit
// integer whose -1 means every permission, present and future.
const MaxGroupPermissions = 63

// AllPermissions is the mask of a group granted in full ("group.*"), as
// Elixir Guardian's max(): every permission, present and future.
const AllPermissions int64 = -1

// Permissions declares an app's permission groups and encodes what a
// token grants into its pem claim, as Elixir Guardian's Permissions with
// its BitwiseEncoding do: the claim is a JSON object from group name to
// an integer, the bitwise OR of the values of the permissions granted. A
// token issued by guardian and one issued by Elixir Guardian from the same
// declaration carry the same pem, and each side reads the other's.
//
// A permission is named "group.name" (e.g. "admin.users_read"). Build a
// declaration once, with [NewPermissions] or [NewPermissionValues], give it
// to IssuerOptions.Permissions to issue tokens that carry permissions,
// and check them with its All and Any requirements (see
// [Guardian.Require]). It is immutable and safe for concurrent use.
type Permissions struct {
	groups map[string]*permissionGroup
}

// permissionGroup is one declared group.
type permissionGroup struct {
	values map[string]int64 // permission name → value
	names  []string         // in declaration (or value) order
}

// NewPermissions declares permission groups the way Elixir Guardian's
// list form does: the permission at index i of a group's list has the
// value 1<<i. So {"admin": {"users_read", "users_write"}} gives
// admin.users_read the value 1 and admin.users_write 2. Keep the order of
// a list once tokens are out: it is the encoding. Group and permission
// names are scope tokens (RFC 6749 §3.3) without '.', and not "*"; a group
// holds at most [MaxGroupPermissions].
func NewPermissions(groups map[string][]string) (*Permissions, error) {
	values := make(map[string]map[string]int64, len(groups))
	for group, names := range groups {
		if len(names) > MaxGroupPermissions {
			return nil, fmt.Errorf("%w: permission group %q has %d permissions, more than %d", ErrConfig, group, len(names), MaxGroupPermissions)
		}
		m := make(map[string]int64, len(names))
		for i, name := range names {
			if _, dup := m[name]; dup {
				return nil, fmt.Errorf("%w: permission %s.%s declared twice", ErrConfig, group, name)
			}
			m[name] = 1 << i
		}
		values[group] = m
	}
	return NewPermissionValues(values)
}

// NewPermissionValues declares permission groups the way Elixir Guardian's
// map form does: each permission's value is given, e.g. {"user_actions":
// {"books": 0b1, "fitness": 0b100, "music": 0b1000}}. A token grants a
// permission when its group's mask has every bit of the value. Values are
// positive, and distinct within a group. Names are as for NewPermissions.
func NewPermissionValues(groups map[string]map[string]int64) (*Permissions, error) {
	if len(groups) == 0 {
		return nil, fmt.Errorf("%w: no permission group", ErrConfig)
	}
	p := &Permissions{groups: make(map[string]*permissionGroup, len(groups))}
	for group, values := range groups {
		if err := checkPermissionName("group", group); err != nil {
			return nil, err
		}
		if len(values) == 0 {
			return nil, fmt.Errorf("%w: permission group %q declares no permission", ErrConfig, group)
		}
		g := &permissionGroup{values: make(map[string]int64, len(values))}
		seen := make(map[int64]string, len(values))
		for name, v := range values {
			if err := checkPermissionName("permission", name); err != nil {
				return nil, err
			}
			if v <= 0 {
				return nil, fmt.Errorf("%w: permission %s.%s has the value %d; values are positive", ErrConfig, group, name, v)
			}
			if other, dup := seen[v]; dup {
				return nil, fmt.Errorf("%w: permissions %s.%s and %s.%s have the same value %d", ErrConfig, group, other, group, name, v)
			}
			seen[v] = name
			g.values[name] = v
			g.names = append(g.names, name)
		}
		slices.SortFunc(g.names, func(a, b string) int {
			if c := cmp.Compare(g.values[a], g.values[b]); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		p.groups[group] = g
	}
	return p, nil
}

// checkPermissionName refuses a group or permission name that could not
// be written as "group.name" in a scope attribute.
func checkPermissionName(kind, name string) error {
	if !isScopeToken(name) || strings.Contains(name, ".") || name == "*" {
		return fmt.Errorf("%w: %s name %q: want a scope token (RFC 6749 §3.3) without '.', and not \"*\"", ErrConfig, kind, name)
	}
	return nil
}

// lookup resolves "group.name" (or "group.*" when all is true) to its
// group and value, or says why it cannot.
func (p *Permissions) lookup(perm string, all bool) (group string, value int64, problem string) {
	group, name, ok := strings.Cut(perm, ".")
	g := p.groups[group]
	switch {
	case !ok:
		return "", 0, fmt.Sprintf("permission %.60q is not of the form group.name", perm)
	case g == nil:
		return "", 0, fmt.Sprintf("permission %.60q: no group %.40q is declared", perm, group)
	case name == "*" && all:
		return group, AllPermissions, ""
	}
	v, ok := g.values[name]
	if !ok {
		return "", 0, fmt.Sprintf("permission %.60q is not declared", perm)
	}
	return group, v, ""
}

// encode turns grants ("group.name" or "group.*") into the pem claim,
// sorted by group.
func (p *Permissions) encode(grants []string) ([]PermissionBits, error) {
	var pem []PermissionBits
	for _, perm := range grants {
		group, v, problem := p.lookup(perm, true)
		if problem != "" {
			return nil, fmt.Errorf("%w: %s", ErrInvalidArgument, problem)
		}
		i, found := slices.BinarySearchFunc(pem, group, func(b PermissionBits, g string) int { return strings.Compare(b.Group, g) })
		if !found {
			pem = slices.Insert(pem, i, PermissionBits{Group: group})
		}
		pem[i].Bits |= v
	}
	return pem, nil
}

// Has reports whether c's pem claim grants perm ("group.name"). An
// undeclared perm is never granted.
func (p *Permissions) Has(c *Claims, perm string) bool {
	group, v, problem := p.lookup(perm, false)
	if problem != "" {
		return false
	}
	bits, ok := c.PermissionBits(group)
	return ok && bits&v == v
}

// Granted lists the declared permissions c's pem claim grants, as
// "group.name", by group and then by value. Groups and bits that are not
// declared are left out, as Elixir Guardian does.
func (p *Permissions) Granted(c *Claims) []string {
	var list []string
	for _, pb := range c.Permissions {
		g := p.groups[pb.Group]
		if g == nil {
			continue
		}
		for _, name := range g.names {
			if v := g.values[name]; pb.Bits&v == v {
				list = append(list, pb.Group+"."+name)
			}
		}
	}
	return list
}

// All returns a [Requirement] met by tokens whose pem claim grants every
// one of perms ("group.name"). Elixir Guardian's ensure option.
func (p *Permissions) All(perms ...string) Requirement {
	return p.require(perms, false)
}

// Any returns a [Requirement] met by tokens whose pem claim grants at
// least one of perms ("group.name").
func (p *Permissions) Any(perms ...string) Requirement {
	return p.require(perms, true)
}

// permissionCheck is one required permission, resolved.
type permissionCheck struct {
	group string
	value int64
}

func (p *Permissions) require(perms []string, any bool) Requirement {
	if p == nil {
		return Requirement{err: fmt.Errorf("%w: permissions required from a nil *Permissions", ErrConfig)}
	}
	if len(perms) == 0 {
		return Requirement{err: fmt.Errorf("%w: no permission to require", ErrConfig)}
	}
	checks := make([]permissionCheck, len(perms))
	for i, perm := range perms {
		group, v, problem := p.lookup(perm, false)
		if problem != "" {
			return Requirement{err: fmt.Errorf("%w: %s", ErrConfig, problem)}
		}
		checks[i] = permissionCheck{group, v}
	}
	required := slices.Clone(perms)
	return Requirement{check: func(c *Claims) error {
		missing := 0
		for _, pc := range checks {
			bits, ok := c.PermissionBits(pc.group)
			has := ok && bits&pc.value == pc.value
			if has && any {
				return nil
			}
			if !has {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		e := &ScopeError{Required: required, Any: any, Permissions: true}
		for i, pc := range checks {
			if bits, ok := c.PermissionBits(pc.group); !ok || bits&pc.value != pc.value {
				e.Missing = append(e.Missing, required[i])
			}
		}
		return e
	}}
}
