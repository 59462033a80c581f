package guardian

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzDecodePayload feeds arbitrary payloads to the encoding/json claims
// decoder. It must never panic; it fails only with ErrMalformedToken (and
// ErrInvalidToken); the dates it accepts are NumericDates in range; and what
// it accepts survives a round trip through encodePayload, the encoder of
// Issue, with the same registered claims (to the second: Issue writes whole
// seconds) and the same custom members.
//
// The round trip is not checked for payloads with a member whose name folds
// to a registered claim without being one ("EXP", "ſub"): encoding/json
// decodes those as the claim, and which one wins depends on member order.
// Issue refuses such custom names, so no token of ours has them.
func FuzzDecodePayload(f *testing.F) {
	for _, p := range []string{
		`{"iss":"https://api.example.com","sub":"u1","aud":"app","typ":"access","jti":"abc","fam":"f","iat":1800000000,"nbf":1800000000,"exp":1800000900}`,
		`{"sub":"u1","aud":["a","b"],"exp":1800000900,"role":"admin","tags":["x",{"y":[1,2.5e3,-0.1,true,false,null]}]}`,
		`{"aud":[],"exp":0}`,
		`{}`,
		`null`,
		`[]`,
		` { "sub" : "u\u0031" , "exp" : 12.75 } `,
		`{"exp":1e9,"iat":-0,"nbf":9007199254740992}`,
		`{"exp":-1}`,
		`{"exp":9007199254740994}`,
		`{"exp":"1"}`,
		`{"exp":null}`,
		`{"iat":null}`,
		`{"exp":1,"exp":2}`,
		`{"EXP":1,"exp":2}`,
		`{"sub":"\xff"}`,
		`{"aud":null}`,
		`{"aud":5}`,
		`{"aud":["a",null]}`,
		`{"x":"\u12"}`,
		`{"sub":"u1"}x`,
		`{"a":{"b":{"c":[[[[[]]]]]}}}`,
		`{"pem":{"admin":1,"default":-1},"exp":1}`,
		`{"pem":{"a":1,"a":2}}`,
		`{"pem":{"a":1.5}}`,
		`{"pem":{"a":"1"}}`,
		`{"pem":{"a":9223372036854775808}}`,
		`{"pem":[1]}`,
		`{"pem":null}`,
		`{"act":{"sub":"a","act":{"sub":"b"}}}`,
		`{"act":"a"}`,
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := decodePayload(p)
		if err != nil {
			if c != nil {
				t.Fatalf("claims returned with error %v", err)
			}
			if !errors.Is(err, ErrMalformedToken) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("decodePayload(%q) = %v, want ErrMalformedToken", p, err)
			}
			if strings.Contains(err.Error(), p) && len(p) > 8 {
				t.Fatalf("the error %q echoes the payload", err)
			}
			return
		}
		for name, d := range map[string]int64{"iat": c.IssuedAt.Unix(), "nbf": c.NotBefore.Unix(), "exp": c.ExpiresAt.Unix()} {
			zero := map[string]bool{"iat": c.IssuedAt.IsZero(), "nbf": c.NotBefore.IsZero(), "exp": c.ExpiresAt.IsZero()}[name]
			if !zero && (d < 0 || d > maxNumericDate) {
				t.Fatalf("%s = %d accepted, out of range", name, d)
			}
		}
		if foldsToRegisteredName(p) {
			return
		}
		out, err := encodePayload(c, nil)
		if err != nil {
			t.Fatalf("encodePayload: %v", err)
		}
		back, err := decodePayload(string(out))
		if err != nil {
			t.Fatalf("re-encoded payload %s of %q refused: %v", out, p, err)
		}
		if back.Issuer != c.Issuer || back.Subject != c.Subject || back.Type != c.Type || back.ID != c.ID || back.Family != c.Family ||
			back.IssuedAt.Unix() != c.IssuedAt.Unix() || back.NotBefore.Unix() != c.NotBefore.Unix() || back.ExpiresAt.Unix() != c.ExpiresAt.Unix() || back.AuthTime.Unix() != c.AuthTime.Unix() ||
			back.IssuedAt.IsZero() != c.IssuedAt.IsZero() || back.NotBefore.IsZero() != c.NotBefore.IsZero() || back.ExpiresAt.IsZero() != c.ExpiresAt.IsZero() ||
			strings.Join(back.Audience, "\x00") != strings.Join(c.Audience, "\x00") || len(back.Audience) != len(c.Audience) {
			t.Fatalf("round trip of %q through %s:\n got %+v\nwant %+v", p, out, back, c)
		}
	})
}

// foldsToRegisteredName reports whether the JSON object p has a member
// whose name is not a registered claim but matches one under
// encoding/json's case folding.
func foldsToRegisteredName(p string) bool {
	var all map[string]any
	if err := jsonUnmarshalString(p, &all); err != nil {
		return false
	}
	for name := range all {
		if registeredNames[name] {
			continue
		}
		for reg := range registeredNames {
			if strings.EqualFold(name, reg) {
				return true
			}
		}
	}
	return false
}

func jsonUnmarshalString(s string, v any) error { return json.Unmarshal([]byte(s), v) }
