package guardian

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
)

// decodeJSONValue decodes one JSON value with its numbers kept as
// json.Number, for jsonEqual.
func decodeJSONValue(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// jsonEqual reports whether two values of decodeJSONValue are the same
// JSON value: objects with the same members, arrays with the same
// elements in order, and numbers of the same value, exactly (so 1 equals
// 1.0 and 1e0, and 1234567890123456789 does not equal
// 1234567890123456788).
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		return ok && numbersEqual(x, y)
	}
	return a == b // string, bool, nil
}

// numbersEqual compares two JSON numbers by value. Numbers with an
// exponent beyond ±1000 are equal only when written the same, so that no
// claim makes the comparison costly.
func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	x, okX := exactNumber(string(a))
	y, okY := exactNumber(string(b))
	return okX && okY && x.Cmp(y) == 0
}

// exactNumber parses a JSON number into a rational, exactly.
func exactNumber(s string) (*big.Rat, bool) {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || exp > 1000 || exp < -1000 {
			return nil, false
		}
	}
	return new(big.Rat).SetString(s)
}
