package pool

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestVerifierRoundTrip(t *testing.T) {
	v, err := deriveVerifier("pencil", []byte("0123456789abcdef"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString
	s := "SCRAM-SHA-256$4096:" + enc(v.salt) + "$" + enc(v.storedKey) + ":" + enc(v.serverKey)
	sec, err := parseSecret("u", s)
	if err != nil {
		t.Fatalf("parseSecret: %v", err)
	}
	if got, want := enc(sec.scram.storedKey), enc(v.storedKey); got != want {
		t.Fatalf("storedKey = %s, want %s", got, want)
	}
	for _, bad := range []string{"SCRAM-SHA-256$x:c2FsdA==$a:b", "SCRAM-SHA-256$4096:c2FsdA==", "SCRAM-SHA-256$4096:!!$a:b", ""} {
		if _, err := parseSecret("u", bad); err == nil {
			t.Errorf("parseSecret(%q): want error", bad)
		}
	}
}

func TestParseClientMessages(t *testing.T) {
	tests := []struct {
		in, bare, nonce string
		wantErr         bool
	}{
		{"n,,n=,r=abc", "n=,r=abc", "abc", false},
		{"y,,n=user,r=xyz", "n=user,r=xyz", "xyz", false},
		{"n,a=authz,n=,r=q", "n=,r=q", "q", false},
		{"p=tls-server-end-point,,n=,r=abc", "", "", true},
		{"n,,n=", "", "", true},
		{"x", "", "", true},
	}
	for _, tt := range tests {
		bare, nonce, err := parseClientFirst(tt.in)
		if (err != nil) != tt.wantErr || bare != tt.bare || nonce != tt.nonce {
			t.Errorf("parseClientFirst(%q) = %q, %q, %v", tt.in, bare, nonce, err)
		}
	}
	if _, _, err := parseClientFinal("c=biws,r=other,p=AAAA", "nonce"); err == nil {
		t.Error("nonce mismatch accepted")
	}
	if _, _, err := parseClientFinal("c=cD10bHM=,r=nonce,p=AAAA", "nonce"); err == nil {
		t.Error("channel binding accepted")
	}
	wp, proof, err := parseClientFinal("c=biws,r=nonce,p=AAAA", "nonce")
	if err != nil || wp != "c=biws,r=nonce" || len(proof) != 3 {
		t.Errorf("parseClientFinal = %q, %v, %v", wp, proof, err)
	}
}

func FuzzSCRAMClientMessages(f *testing.F) {
	f.Add("n,,n=,r=abc", "c=biws,r=abcdef,p=AAAA")
	f.Add("p=x,,", ",p=")
	f.Fuzz(func(t *testing.T, first, final string) {
		bare, nonce, err := parseClientFirst(first)
		if err == nil && (nonce == "" || !strings.Contains(bare, "r="+nonce)) {
			t.Fatalf("parseClientFirst(%q) = %q, %q", first, bare, nonce)
		}
		wp, _, err := parseClientFinal(final, nonce+"srv")
		if err == nil && strings.Contains(wp, ",p=") && !strings.HasPrefix(final, wp) {
			t.Fatalf("parseClientFinal(%q) = %q", final, wp)
		}
	})
}

func TestValidate(t *testing.T) {
	cfg := Config{
		Listen:     "",
		AuthType:   "password",
		PoolMode:   "statement",
		Databases:  map[string]Database{"pgbouncer": {}},
		Users:      []User{{Name: "a", Password: "x"}, {Name: "a", Password: "y"}, {Name: "b"}},
		AdminUsers: []string{"root"},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate: want errors")
	}
	for _, want := range []string{"pooler.listen", "pooler.auth_type", "pooler.pool_mode", "pooler.databases.pgbouncer",
		`pooler.users[1].name: "a" listed twice`, "pooler.users[2].password", `pooler.admin_users[0]: "root"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q:\n%v", want, err)
		}
	}
}
