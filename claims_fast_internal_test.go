package guardian

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fastSeeds are payloads of the shapes the fast decoder must take, and
// near misses it must hand to encoding/json.
var fastSeeds = []string{
	`{"iss":"https://api.example.com","sub":"u1","aud":"app","typ":"access","jti":"abc","fam":"f","iat":1800000000,"nbf":1800000000,"exp":1800000900}`,
	`{"sub":"u1","aud":["a","b"],"exp":1800000900,"role":"admin","tags":["x",{"y":[1,2.5e3,-0.1,true,false,null]}]}`,
	`{"aud":[],"exp":0}`,
	`{}`,
	` { "sub" : "u1" , "exp" : 12 } `,
	`{"sub":"u\u0031","exp":1}`,
	`{"sub":"é","exp":1}`,
	`{"sub":"\xff","exp":1}`,
	`{"exp":1.5}`,
	`{"exp":1e9}`,
	`{"exp":-1}`,
	`{"exp":01}`,
	`{"exp":9007199254740993}`,
	`{"exp":123456789012345}`,
	`{"exp":"1"}`,
	`{"exp":null}`,
	`{"exp":1,"exp":2}`,
	`{"EXP":1}`,
	`{"Sub":"x","sub":"y"}`,
	`{"ſub":"x"}`,
	`{"sub":1}`,
	`{"aud":["a",1]}`,
	`{"aud":null}`,
	`{"aud":["a",null]}`,
	`{"x":"\u12"}`,
	`{"x":"a\tb"}`,
	`{"x":[1,]}`,
	`{"x":{"a":1,}}`,
	`{"sub":"u1"}x`,
	`[]`,
	`{"a":1}{"b":2}`,
	`{"x":tru}`,
	`{"x":-}`,
	`{"x":1.}`,
	`{"x":1e}`,
	`{"x":"\/"}`,
	`{"iss":"https://as.example","sub":"svc","aud":"https://api","client_id":"c1","scope":"read write","jti":"j","iat":1,"exp":2}`,
	`{"scope":"read  write read","scp":["write","admin"],"exp":1}`,
	`{"scope":"","scp":[],"exp":1}`,
	`{"scp":"a b","exp":1}`,
	`{"scope":["a","b"],"exp":1}`,
	`{"scope":null,"exp":1}`,
	`{"scope":1,"exp":1}`,
	`{"amr":["pwd","otp"],"acr":"urn:mace:incommon:iap:silver","azp":"web","exp":1}`,
	`{"amr":[],"exp":1}`,
	`{"amr":"pwd","exp":1}`,
	`{"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"exp":1}`,
	`{"cnf":{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2","jkt":"a"},"exp":1}`,
	`{"cnf":{},"exp":1}`,
	`{"cnf":null,"exp":1}`,
	`{"cnf":{"JKT":"a"},"exp":1}`,
	`{"cnf":{"jkt":"a","jkt":"b"},"exp":1}`,
	`{"cnf":{"jkt":1},"exp":1}`,
	`{"cnf":"a","exp":1}`,
	`{"cnf":{"jkt":"a","jwk":{"kty":"EC"}},"exp":1}`,
	`{"cnf":{"jkt":"\u0061"},"exp":1}`,
	`{"client_id":"a","client_id":"b","exp":1}`,
	`{"SCOPE":"a","exp":1}`,
	`{"Client_ID":"a","exp":1}`,
	// pem (Elixir Guardian's permissions) and act (RFC 8693).
	`{"sub":"u1","pem":{"admin":1,"default":3},"exp":1}`,
	`{"pem":{"admin":-1},"exp":1}`,
	`{"pem":{"a":9223372036854775807,"b":-9223372036854775808}}`,
	`{"pem":{"a":0,"b":-0}}`,
	`{"pem":{}}`,
	`{"pem":{ }}`,
	`{"pem":null,"exp":1}`,
	`{"pem":nul}`,
	`{"pem":{"a":1,"a":2},"exp":1}`,
	`{"pem":{"b":1,"a":2,"b":4}}`,
	`{"pem":{"a":1},"pem":{"b":2}}`,
	`{"PEM":{"a":1}}`,
	`{"Pem":{"a":1},"pem":{"b":1}}`,
	`{"pem":{"a":{"b":1}}}`,
	`{"pem":{"a":[1]}}`,
	`{"pem":{"a":1.5}}`,
	`{"pem":{"a":1.0}}`,
	`{"pem":{"a":1e3}}`,
	`{"pem":{"a":-1E0}}`,
	`{"pem":{"a":"1"}}`,
	`{"pem":{"a":true}}`,
	`{"pem":{"a":null}}`,
	`{"pem":{"a":9223372036854775808}}`,
	`{"pem":{"a":-9223372036854775809}}`,
	`{"pem":{"a":01}}`,
	`{"pem":{"a":-}}`,
	`{"pem":{"a":1,}}`,
	`{"pem":{"a" : 1 , "b":2 } ,"exp":1}`,
	`{"pem":{"\u0061":1}}`,
	`{"pem":{"é":1,"e":2}}`,
	`{"pem":{"\xff":1}}`,
	"{\"pem\":{\"\xff\":1}}",
	`{"pem":{"a\tb":1}}`,
	`{"pem":{"":1}}`,
	`{"pem":[1,2]}`,
	`{"pem":"admin"}`,
	`{"pem":3}`,
	`{"act":{"sub":"admin"},"exp":1}`,
	`{"act":{"sub":"a","act":{"sub":"b","iss":"https://as.example"}}}`,
	`{"act":null}`,
	`{"act":"admin"}`,
	`{"act":{"sub":1}}`,
	`{"ACT":{"sub":"a"}}`,
	`{"act":{"sub":"a"},"act":{"sub":"b"}}`,
	`{"iss":"https://api.example.com","sub":"u2","typ":"access","jti":"j","fam":"f","iat":1800000000,"exp":1800000900,"auth_time":1799999000,"acr":"mfa","amr":["pwd","otp"],"scope":"read","pem":{"admin":1,"default":1},"act":{"sub":"u1"}}`,
}

func TestDecodeClaimsFastAgrees(t *testing.T) {
	for _, p := range fastSeeds {
		checkFastAgrees(t, p)
	}
	// The shape Issue writes always takes the fast path.
	if !decodeClaimsFast(fastSeeds[0], &Claims{}) || !decodeClaimsFast(fastSeeds[1], &Claims{}) {
		t.Fatal("the fast decoder refused a payload of the usual shape")
	}
}

// FuzzDecodeClaimsFast checks the fast decoder differentially against the
// encoding/json path: whenever the fast path accepts a payload, the
// standard path must accept it too and produce the same claims.
func FuzzDecodeClaimsFast(f *testing.F) {
	for _, p := range fastSeeds {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		checkFastAgrees(t, p)
	})
}

func checkFastAgrees(t *testing.T, p string) {
	t.Helper()
	fast := &Claims{payload: p}
	if !decodeClaimsFast(p, fast) {
		return // the standard path decides; nothing to compare
	}
	std, err := decodePayload(p)
	if err != nil {
		t.Fatalf("fast path accepted %q, encoding/json refused it: %v", p, err)
	}
	// aud1 is storage behind Audience, which DeepEqual compares by value.
	f, d := *fast, *std
	f.aud1, d.aud1 = [1]string{}, [1]string{}
	if !reflect.DeepEqual(f, d) {
		t.Fatalf("payload %q:\nfast %#v\nstd  %#v", p, fast, std)
	}
}

// FuzzScanIssuer checks the Verifier's router against encoding/json:
// whenever the scan reads an iss, encoding/json reads the same one.
func FuzzScanIssuer(f *testing.F) {
	for _, p := range fastSeeds {
		f.Add(p)
	}
	f.Add(`{"ISS":"a","iss":"b"}`)
	f.Add(`{"iſs":"a"}`)
	f.Add(`{"iss":"a","iss":"b"}`)
	f.Fuzz(func(t *testing.T, p string) {
		iss, ok := scanIssuer(p)
		if !ok {
			return
		}
		var w struct {
			Iss string `json:"iss"`
		}
		if err := json.Unmarshal([]byte(p), &w); err != nil {
			t.Fatalf("scan read iss %q of %q, encoding/json refused it: %v", iss, p, err)
		}
		if w.Iss != iss {
			t.Fatalf("payload %q: scan read iss %q, encoding/json %q", p, iss, w.Iss)
		}
	})
}
